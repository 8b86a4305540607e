using System.Collections.Generic;
using System.IO;
using System.Linq;
using Sd3Tex.Cli;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>Runs the command-line tool in-process exactly as `DotNet~/sd3tex` runs it, and names the tiny model.</summary>
static class Cli
{
    public static (int code, string stdout, string stderr) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>The tiny fixture model: transformer, VAE, both CLIPs and T5, in separate files.</summary>
    public static string[] TinyWeights => new[]
    {
        TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"), TestPaths.Fixture("vae-tiny", "model.safetensors"),
        TestPaths.Fixture("clip-tiny", "model.safetensors"), TestPaths.Fixture("t5-tiny", "model.safetensors"),
    };

    public static string Tokenizers => Path.Combine(TestPaths.Shared, "tokenizers");

    /// <summary>generate's options for the tiny model (plain C# reference, CLIP heads 2,2) followed by <paramref name="more"/>.</summary>
    public static string[] Generate(params string[] more) =>
        new[] { "generate", "--weights" }.Concat(TinyWeights)
            .Concat(new[] { "--tokenizers", Tokenizers, "--clip-heads", "2,2", "--device", "reference" }).Concat(more).ToArray();

    /// <summary>A bake manifest's JSON for the tiny model (reference device, 2 Euler steps at 32 × 32, output
    /// "textures"), without textures.</summary>
    public static Sd3Tex.Json.JsonValue TinyBakeManifest()
    {
        var j = Sd3Tex.Json.JsonValue.NewObject();
        j.Set("weights", Sd3Tex.Json.JsonValue.NewArray(TinyWeights.Select(Sd3Tex.Json.JsonValue.From)));
        j.Set("tokenizers", Tokenizers);
        j.Set("output", "textures");
        j.Set("device", "reference");
        var d = Sd3Tex.Json.JsonValue.NewObject();
        d.Set("steps", 2); d.Set("cfg", 4.0); d.Set("width", 32); d.Set("height", 32); d.Set("clip_heads", "2,2"); d.Set("sampler", "euler");
        j.Set("defaults", d);
        return j;
    }

    /// <summary>Runs the built tool as its own process (dotnet sd3tex.dll ...) in <paramref name="workingDirectory"/> with
    /// <paramref name="environment"/> set (a null value removes the variable), for what an in-process run cannot give:
    /// environment variables, the current folder.</summary>
    public static (int code, string stdout, string stderr) Process(IDictionary<string, string> environment, string workingDirectory, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(ToolDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (workingDirectory != null) psi.WorkingDirectory = workingDirectory;
        foreach (var kv in environment ?? new Dictionary<string, string>())
        {
            if (kv.Value == null) psi.Environment.Remove(kv.Key);
            else psi.Environment[kv.Key] = kv.Value;
        }
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000)) { p.Kill(entireProcessTree: true); NUnit.Framework.Assert.Fail("sd3tex " + string.Join(" ", args) + " ran for more than 3 minutes"); }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The path of the built tool, for tests that need a real process (dotnet sd3tex.dll ...).</summary>
    public static string ToolDll => Path.Combine(Path.GetDirectoryName(typeof(Program).Assembly.Location)!, "sd3tex.dll");
}
