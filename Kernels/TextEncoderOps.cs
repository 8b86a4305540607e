using System;
using ILGPU;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>A table of rows on the device in its stored type: F32 as floats, F16 and BF16 as raw 16-bit patterns
    /// (decoded inside the kernel), like <see cref="WeightView"/> (e.g. a token-embedding table [vocab, dim]).</summary>
    public readonly struct TableView
    {
        public readonly DType Type;
        public readonly ArrayView<float> F32;
        public readonly ArrayView<ushort> Bits;

        TableView(DType type, ArrayView<float> f32, ArrayView<ushort> bits) { Type = type; F32 = f32; Bits = bits; }

        public static TableView FromF32(ArrayView<float> t) => new TableView(DType.F32, t, default);

        /// <summary>16-bit rows of the given type (F16 or BF16).</summary>
        public static TableView FromBits(DType type, ArrayView<ushort> bits)
        {
            if (type != DType.F16 && type != DType.BF16) throw new ArgumentException($"16-bit tables are F16 or BF16, not {type}.", nameof(type));
            return new TableView(type, default, bits);
        }

        /// <summary>The same storage seen as a table (weights and tables share the upload code).</summary>
        public static TableView From(WeightView w) => w.Type == DType.F32 ? FromF32(w.F32) : FromBits(w.Type, w.Bits);

        public long Length => Type == DType.F32 ? F32.Length : Bits.Length;
    }

    /// <summary>The scalar arguments of the row-gather kernel.</summary>
    public struct GatherParams
    {
        /// <summary>Output rows, floats per row, rows of the table, rows of the added table (0: none).</summary>
        public int Rows, Dim, TableRows, AddRows;
    }

    /// <summary>
    /// The text encoders' own small kernels: the token-embedding lookup (a row gather that decodes F16/BF16 tables and
    /// can add a position table, CLIP's <c>token_embedding[ids] + position_embedding</c>), and T5's gated GELU
    /// <c>gelu_tanh(a) · b</c> over the two halves of a fused <c>wi_0 ‖ wi_1</c> output. Calls are asynchronous on the
    /// default stream and allocate nothing; kernels compile on first use.
    /// </summary>
    public sealed class TextEncoderOps
    {
        readonly ComputeDevice _device;
        Action<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GatherParams> _gatherF32;
        Action<Index1D, ArrayView<int>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, GatherParams> _gatherF16, _gatherBF16;
        Action<Index1D, ArrayView<float>, ArrayView<float>, int> _gatedGelu;

        public TextEncoderOps(ComputeDevice device)
        {
            _device = device ?? throw new ArgumentNullException(nameof(device));
        }

        /// <summary>
        /// <c>output[r, :] = table[ids[r], :] (+ add[r % addRows, :])</c> for r &lt; rows. table [tableRows, dim] in its
        /// stored type, add [addRows, dim] F32 or <c>default</c> for none, output [rows, dim]. Ids must lie in
        /// [0, tableRows): the caller checks them (a kernel cannot report an error), out-of-range ids read row 0.
        /// </summary>
        public void Gather(ArrayView<int> ids, TableView table, ArrayView<float> add, int addRows, ArrayView<float> output,
                           int rows, int dim, int tableRows)
        {
            if (rows == 0 || dim == 0) return;
            if (rows < 0 || dim < 0 || tableRows < 1) throw new ArgumentException($"gather shape rows {rows}, dim {dim}, table rows {tableRows}.");
            long n = (long)rows * dim;
            if (n > int.MaxValue || (long)tableRows * dim > int.MaxValue) throw new ArgumentException("gather operands over 2^31 elements: split the call.");
            Need("ids", ids.Length, rows);
            Need("table", table.Length, (long)tableRows * dim);
            Need("output", output.Length, n);
            bool hasAdd = add.IsValid && add.Length > 0 && addRows > 0;
            if (hasAdd) Need("add", add.Length, (long)addRows * dim);
            else add = output; // a kernel never gets an empty view
            if (_device.IsManaged)
            {
                unsafe
                {
                    Cpu.CpuOps.Gather(Cpu.CpuBackend.Ptr(ids), Cpu.WeightPtr.Of(table), hasAdd ? Cpu.CpuBackend.Ptr(add) : null, hasAdd ? addRows : 0,
                                      Cpu.CpuBackend.Ptr(output), rows, dim, tableRows);
                }
                return;
            }
            var p = new GatherParams { Rows = rows, Dim = dim, TableRows = tableRows, AddRows = hasAdd ? addRows : 0 };
            var acc = _device.Accelerator;
            switch (table.Type)
            {
                case DType.F32:
                    _gatherF32 = _gatherF32 ?? acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GatherParams>(GatherKernel<float, F32Decoder>);
                    _gatherF32((int)n, ids, table.F32, add, output, p);
                    break;
                case DType.F16:
                    _gatherF16 = _gatherF16 ?? acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, GatherParams>(GatherKernel<ushort, F16Decoder>);
                    _gatherF16((int)n, ids, table.Bits, add, output, p);
                    break;
                case DType.BF16:
                    _gatherBF16 = _gatherBF16 ?? acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, GatherParams>(GatherKernel<ushort, BF16Decoder>);
                    _gatherBF16((int)n, ids, table.Bits, add, output, p);
                    break;
                default: throw new NotSupportedException($"tables of type {table.Type}.");
            }
        }

        /// <summary>
        /// T5's gated GELU on a fused projection: x [rows, 2·ff] holds <c>wi_0(h)</c> in columns [0, ff) and
        /// <c>wi_1(h)</c> in [ff, 2·ff); <c>y[r, j] = gelu_tanh(x[r, j]) · x[r, ff + j]</c>, y [rows, ff].
        /// </summary>
        public void GatedGelu(ArrayView<float> x, ArrayView<float> y, int rows, int ff)
        {
            if (rows == 0 || ff == 0) return;
            if (rows < 0 || ff < 0) throw new ArgumentException($"gated GELU shape rows {rows}, ff {ff}.");
            long n = (long)rows * ff;
            if (2 * n > int.MaxValue) throw new ArgumentException("gated GELU over 2^31 elements: split the call.");
            Need("x", x.Length, 2 * n);
            Need("y", y.Length, n);
            if (_device.IsManaged)
            {
                unsafe { Cpu.CpuOps.GatedGelu(Cpu.CpuBackend.Ptr(x), Cpu.CpuBackend.Ptr(y), rows, ff); }
                return;
            }
            _gatedGelu = _gatedGelu ?? _device.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(GatedGeluKernel);
            _gatedGelu((int)n, x, y, ff);
        }

        static void Need(string what, long have, long need)
        {
            if (have < need) throw new ArgumentException($"{what} holds {have} elements; the shape needs {need}.");
        }

        /// <summary>The instantiations of <see cref="GatherKernel{TW, TDec}"/> the launcher uses (one per table type),
        /// listed for <see cref="KernelCatalog"/>.</summary>
        public static System.Collections.Generic.IEnumerable<System.Reflection.MethodInfo> KernelSpecializations()
        {
            var def = typeof(TextEncoderOps).GetMethod(nameof(GatherKernel));
            yield return def.MakeGenericMethod(typeof(float), typeof(F32Decoder));
            yield return def.MakeGenericMethod(typeof(ushort), typeof(F16Decoder));
            yield return def.MakeGenericMethod(typeof(ushort), typeof(BF16Decoder));
        }

        /// <summary>Element i = r·Dim + c of the output: <c>table[ids[r]·Dim + c]</c> decoded, plus
        /// <c>add[(r % AddRows)·Dim + c]</c> when AddRows &gt; 0.</summary>
        public static void GatherKernel<TW, TDec>(Index1D i, ArrayView<int> ids, ArrayView<TW> table, ArrayView<float> add,
                                                  ArrayView<float> output, GatherParams p)
            where TW : unmanaged
            where TDec : struct, IWeightDecoder<TW>
        {
            TDec dec = default;
            int e = i;
            int r = e / p.Dim;
            int c = e - r * p.Dim;
            int id = ids[r];
            if (id < 0 || id >= p.TableRows) id = 0;
            float v = dec.Decode(table[id * p.Dim + c]);
            if (p.AddRows > 0) v += add[(r % p.AddRows) * p.Dim + c];
            output[e] = v;
        }

        /// <summary>Element i = r·ff + j: <c>y[i] = gelu_tanh(x[r·2ff + j]) · x[r·2ff + ff + j]</c>.</summary>
        public static void GatedGeluKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, int ff)
        {
            int e = i;
            int r = e / ff;
            int j = e - r * ff;
            int o = r * 2 * ff + j;
            y[e] = KernelMath.GeluTanh(x[o]) * x[o + ff];
        }
    }
}
