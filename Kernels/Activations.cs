using System;
using ILGPU;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>Which element-wise activation <see cref="Activations.Apply"/> runs.</summary>
    public enum Activation
    {
        /// <summary>x · sigmoid(x).</summary>
        Silu = 0,
        /// <summary>0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
        GeluTanh = 1,
        /// <summary>x · sigmoid(1.702x) (CLIP).</summary>
        QuickGelu = 2,
        /// <summary>0.5·x·(1 + erf(x/√2)).</summary>
        GeluErf = 3,
    }

    /// <summary>The scalar arguments of the gated residual kernel.</summary>
    public struct GatedResidualParams
    {
        /// <summary>Floats per token row; rows per batch; the gate's batch stride.</summary>
        public int Hidden, TokensPerBatch, GateStride;
    }

    /// <summary>
    /// Element-wise kernels on F32 device buffers: the activations (<see cref="Activation"/>) and the MMDiT gated
    /// residual add. Outputs may alias inputs (in place). Calls are asynchronous on the default stream and allocate
    /// nothing; kernels compile on first use.
    /// <para>The reference they must match is <see cref="ActivationReference"/>.</para>
    /// </summary>
    public sealed class Activations
    {
        readonly ComputeDevice _device;
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>>[] _act = new Action<Index1D, ArrayView<float>, ArrayView<float>>[4];
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GatedResidualParams> _gated;

        public Activations(ComputeDevice device)
        {
            _device = device ?? throw new ArgumentNullException(nameof(device));
        }

        /// <summary><c>y[i] = f(x[i])</c> for i &lt; n; x, y [n] (y may be x).</summary>
        public void Apply(Activation f, ArrayView<float> x, ArrayView<float> y, int n)
        {
            if (n == 0) return;
            Need("x", x.Length, n);
            Need("y", y.Length, n);
            int i = (int)f;
            if (i < 0 || i >= _act.Length) throw new ArgumentOutOfRangeException(nameof(f));
            if (_device.IsManaged)
            {
                using var timed = Cpu.CpuProfile.Enabled ? Cpu.CpuProfile.Time($"{f} {n}") : default;
                unsafe { Cpu.CpuBackend.Activate(f, Cpu.CpuBackend.Ptr(x), Cpu.CpuBackend.Ptr(y), n); }
                return;
            }
            var k = _act[i];
            if (k == null)
            {
                var acc = _device.Accelerator;
                switch (f)
                {
                    case Activation.Silu: k = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(SiluKernel); break;
                    case Activation.GeluTanh: k = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(GeluTanhKernel); break;
                    case Activation.QuickGelu: k = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(QuickGeluKernel); break;
                    default: k = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(GeluErfKernel); break;
                }
                _act[i] = k;
            }
            k(n, x, y);
        }

        public void Silu(ArrayView<float> x, ArrayView<float> y, int n) => Apply(Activation.Silu, x, y, n);
        public void GeluTanh(ArrayView<float> x, ArrayView<float> y, int n) => Apply(Activation.GeluTanh, x, y, n);
        public void QuickGelu(ArrayView<float> x, ArrayView<float> y, int n) => Apply(Activation.QuickGelu, x, y, n);
        public void GeluErf(ArrayView<float> x, ArrayView<float> y, int n) => Apply(Activation.GeluErf, x, y, n);

        /// <summary>
        /// <c>output[r,i] = residual[r,i] + gate[b·gateBatchStride + i] · y[r,i]</c>, b = r / tokensPerBatch, over
        /// [rows, hidden] (the MMDiT's <c>x = x + gate · y</c>; output may be residual). gate rows of hidden at
        /// b·gateBatchStride (e.g. a chunk of the adaLN output).
        /// </summary>
        public void GatedResidual(ArrayView<float> residual, ArrayView<float> y, ArrayView<float> gate, ArrayView<float> output,
                                  int rows, int hidden, int tokensPerBatch, int gateBatchStride)
        {
            if (rows == 0 || hidden == 0) return;
            if (rows < 0 || hidden < 0 || tokensPerBatch < 1) throw new ArgumentException($"gated residual shape rows {rows}, hidden {hidden}, tokensPerBatch {tokensPerBatch}.");
            long n = (long)rows * hidden;
            if (n > int.MaxValue) throw new ArgumentException("gated residual over 2^31 elements: split the call.");
            Need("residual", residual.Length, n);
            Need("y", y.Length, n);
            Need("output", output.Length, n);
            Need("gate", gate.Length, (long)((rows - 1) / tokensPerBatch) * gateBatchStride + hidden);
            if (_device.IsManaged)
            {
                unsafe
                {
                    Cpu.CpuOps.GatedResidual(Cpu.CpuBackend.Ptr(residual), Cpu.CpuBackend.Ptr(y), Cpu.CpuBackend.Ptr(gate), Cpu.CpuBackend.Ptr(output),
                                             rows, hidden, tokensPerBatch, gateBatchStride);
                }
                return;
            }
            _gated = _gated ?? _device.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GatedResidualParams>(GatedResidualKernel);
            _gated((int)n, residual, y, gate, output,
                   new GatedResidualParams { Hidden = hidden, TokensPerBatch = tokensPerBatch, GateStride = gateBatchStride });
        }

        static void Need(string what, long have, long need)
        {
            if (have < need) throw new ArgumentException($"{what} holds {have} elements; the shape needs {need}.");
        }

        /// <summary>y[i] = silu(x[i]); x, y [n].</summary>
        public static void SiluKernel(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = KernelMath.Silu(x[i]);

        /// <summary>y[i] = gelu_tanh(x[i]); x, y [n].</summary>
        public static void GeluTanhKernel(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = KernelMath.GeluTanh(x[i]);

        /// <summary>y[i] = quick_gelu(x[i]); x, y [n].</summary>
        public static void QuickGeluKernel(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = KernelMath.QuickGelu(x[i]);

        /// <summary>y[i] = gelu_erf(x[i]); x, y [n].</summary>
        public static void GeluErfKernel(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = KernelMath.GeluErf(x[i]);

        /// <summary>Element i = r·Hidden + c of [rows, Hidden]:
        /// <c>output[i] = residual[i] + gate[(r / TokensPerBatch)·GateStride + c] · y[i]</c>.</summary>
        public static void GatedResidualKernel(Index1D i, ArrayView<float> residual, ArrayView<float> y, ArrayView<float> gate,
                                               ArrayView<float> output, GatedResidualParams p)
        {
            int e = i;
            int r = e / p.Hidden;
            int c = e - r * p.Hidden;
            output[e] = residual[e] + gate[(r / p.TokensPerBatch) * p.GateStride + c] * y[e];
        }
    }
}
