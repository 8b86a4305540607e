using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Cli;

/// <summary>Named input tensors of a safetensors file, read as floats with their shapes checked.</summary>
public sealed class TensorInputs : IDisposable
{
    readonly SafetensorsFile _file;
    public string Path => _file.Path;

    public TensorInputs(string path) { _file = SafetensorsFile.Open(path); }

    public long[] Shape(string name) => Get(name).Shape;

    TensorInfo Get(string name) => _file[name] ?? throw new CheckpointException(_file.Path,
        $"has no tensor \"{name}\" (it holds: {string.Join(", ", _file.Tensors.Select(t => t.Name))}).");

    /// <summary>The tensor's floats; <paramref name="rank"/> dimensions are required.</summary>
    public float[] Floats(string name, int rank)
    {
        var t = Get(name);
        if (t.Shape.Length != rank)
            throw new CheckpointException(_file.Path, $"\"{name}\" has shape {t.ShapeText}; {rank} dimensions are expected.");
        if (!DTypes.IsFloat(t.DType))
            throw new CheckpointException(_file.Path, $"\"{name}\" is {DTypes.Name(t.DType)}; a float tensor is expected.");
        return _file.ReadFloats(t);
    }

    public void Expect(string name, params long[] shape)
    {
        var s = Shape(name);
        if (!s.SequenceEqual(shape))
            throw new CheckpointException(_file.Path, $"\"{name}\" has shape [{string.Join(", ", s)}]; [{string.Join(", ", shape)}] is expected here.");
    }

    public void Dispose() => _file.Dispose();

    /// <summary>Writes F32 outputs atomically.</summary>
    public static void WriteOutputs(string path, IEnumerable<(string name, long[] shape, float[] values)> outputs)
    {
        var w = new SafetensorsWriter().SetMetadata("format", "pt").SetMetadata("producer", "sd3tex");
        foreach (var (name, shape, values) in outputs) w.AddFloats(name, DType.F32, shape, values);
        w.Write(path);
    }
}
