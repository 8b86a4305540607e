using System;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>A patch grid cannot be given position embeddings as asked; the message says why and what to do.</summary>
    public sealed class PatchGridException : ArgumentException
    {
        public PatchGridException(string message) : base(message) { }
    }

    /// <summary>
    /// Positions of a 2D sin-cos table: row i sits at <c>i*Step - Offset</c>, column j at <c>j*Step - Offset</c>.
    /// mmditx's <c>get_2d_sincos_pos_embed(scaling_factor, offset)</c> is Step = 1/scaling_factor (1 when None);
    /// diffusers' <c>get_2d_sincos_pos_embed(grid_size, base_size, interpolation_scale)</c> is
    /// Step = base_size / grid_size / interpolation_scale, Offset = 0.
    /// </summary>
    public readonly struct SinCosGrid
    {
        public float Step { get; }
        public float Offset { get; }
        public SinCosGrid(float step, float offset) { Step = step; Offset = offset; }

        /// <summary>Integer positions from 0 (mmditx without scaling factor or offset); the tiny SD3 fixture's table is this one.</summary>
        public static SinCosGrid Standard => new SinCosGrid(1f, 0f);

        /// <summary>mmditx: grid / scaling_factor - offset.</summary>
        public static SinCosGrid FromMmditx(float? scalingFactor, float? offset) =>
            new SinCosGrid(scalingFactor.HasValue ? (float)(1.0 / scalingFactor.Value) : 1f, offset ?? 0f);

        /// <summary>diffusers PatchEmbed (square table of gridSize, base_size = sample_size / patch).</summary>
        public static SinCosGrid FromDiffusers(int gridSize, int baseSize, float interpolationScale = 1f) =>
            new SinCosGrid((float)((double)baseSize / gridSize / interpolationScale), 0f);

        public override string ToString() => $"position = index * {Step:R} - {Offset:R}";
    }

    /// <summary>
    /// Position embeddings of the patch tokens. The checkpoint holds <c>pos_embed</c> [1, M*M, hidden]
    /// (M = pos_embed_max_size); a patch grid h×w uses the window of rows top..top+h-1 and columns left..left+w-1 with
    /// <c>top = (M - h) // 2</c>, <c>left = (M - w) // 2</c> (floor division), added to the patch embeddings
    /// [B, h*w, hidden] (tokens row-major over the grid).
    /// <para>For grids larger than the table the same window is generated from the 2D sin-cos formula instead
    /// (<see cref="AddSinCos"/>); the floor formula then gives a negative top/left, i.e. the table extended
    /// symmetrically around its centre, which is exactly a centre crop of a larger generated table of the same spacing.</para>
    /// <para>The sin-cos layout (mmditx / diffusers <c>get_2d_sincos_pos_embed</c>): for hidden D, Q = D/4 and
    /// ω_k = 10000^(-k/Q), k = 0..Q-1, the embedding of grid cell (row i, column j) is
    /// <c>[sin(x ω) | cos(x ω) | sin(y ω) | cos(y ω)]</c>, each block Q wide, where x is the COLUMN position and y the
    /// ROW position (the reference's meshgrid puts w first, so its "emb_h" half encodes the column).</para>
    /// Kernels are compiled once per device; calls enqueue on the default stream and allocate nothing.
    /// </summary>
    public sealed class PositionGrid
    {
        /// <summary>The largest patch grid accepted without an explicit opt-in: SD3/SD3.5's pos_embed_max_size
        /// (192 patches = 3072 px at patch 2 and 8× latent downsampling).</summary>
        public const int MaxPatchGrid = 192;

        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, CropArgs> _crop;
        readonly Action<Index1D, ArrayView<float>, SinCosArgs> _sinCos;

        public ComputeDevice Device { get; }

        public PositionGrid(ComputeDevice device)
        {
            Device = device ?? throw new ArgumentNullException(nameof(device));
            if (device.IsManaged) return; // the managed CPU backend runs Cpu.CpuOps instead of the kernels
            _crop = device.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, CropArgs>(CropKernel);
            _sinCos = device.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, SinCosArgs>(SinCosKernel);
        }

        /// <summary>Python's floor division (C#'s / truncates towards zero).</summary>
        public static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);

        /// <summary>
        /// Checks a patch grid h×w against a table of M×M and returns the window origin (top, left) = ((M-h)//2, (M-w)//2).
        /// Throws <see cref="PatchGridException"/> when h or w exceeds <see cref="MaxPatchGrid"/> without
        /// <paramref name="allowLargeGrid"/>, or exceeds M when the table cannot be extended (<paramref name="canGenerate"/> false).
        /// </summary>
        public static (int Top, int Left) PlanCrop(int gridH, int gridW, int tableSize, bool canGenerate = false, bool allowLargeGrid = false)
        {
            if (gridH < 1 || gridW < 1) throw new PatchGridException($"patch grid {gridH}×{gridW} is empty.");
            if (tableSize < 1) throw new PatchGridException($"pos_embed table size {tableSize} is not positive.");
            if ((gridH > MaxPatchGrid || gridW > MaxPatchGrid) && !allowLargeGrid)
                throw new PatchGridException(
                    $"patch grid {gridH}×{gridW} exceeds {MaxPatchGrid}×{MaxPatchGrid} patches, the largest SD3/SD3.5 position table " +
                    $"(about {MaxPatchGrid * 16}×{MaxPatchGrid * 16} pixels); the model has never seen such positions. " +
                    "Use a smaller image or tile it, or opt in explicitly (allowLargeGrid) to extrapolate the sin-cos positions.");
            if ((gridH > tableSize || gridW > tableSize) && !canGenerate)
                throw new PatchGridException(
                    $"patch grid {gridH}×{gridW} is larger than the checkpoint's pos_embed table ({tableSize}×{tableSize}, " +
                    "pos_embed_max_size). Use a smaller image, or generate the positions beyond the table from the sin-cos " +
                    "formula (pass the table's SinCosGrid; PositionGrid.TryDetectSinCos finds it when the table is one).");
            return (FloorDiv(tableSize - gridH, 2), FloorDiv(tableSize - gridW, 2));
        }

        /// <summary>Origin in the M×M table of the centre window of <paramref name="rows"/> × <paramref name="cols"/>
        /// cells (rows, cols ≤ M): the window a model keeps instead of the whole table (see <see cref="AddFromWindow"/>).</summary>
        public static (int Top, int Left) WindowOrigin(int rows, int cols, int tableSize) =>
            (FloorDiv(tableSize - rows, 2), FloorDiv(tableSize - cols, 2));

        /// <summary>
        /// tokens [B, h*w, hidden] (+)= the centre crop of an M×M table for grid h×w, read from <paramref name="window"/>
        /// [rows*cols, hidden]: the table's centre window of rows × cols cells (origin <see cref="WindowOrigin"/>), with
        /// h ≤ rows and w ≤ cols. Centre windows nest, so the crop of every smaller grid lies inside the window, at the
        /// same values as in the table: a model keeps the window of the largest grid it has seen, not the table
        /// (SD3.5 Medium's is 384² × 1536 floats, 906 MB).
        /// </summary>
        public void AddFromWindow(ArrayView<float> tokens, ArrayView<float> window, int batch, int gridH, int gridW, int hidden, int tableSize,
                                  int windowRows, int windowCols, bool accumulate = true)
        {
            if (gridH < 1 || gridW < 1 || gridH > windowRows || gridW > windowCols || windowRows > tableSize || windowCols > tableSize)
                throw new ArgumentException($"patch grid {gridH}×{gridW} does not fit the position window {windowRows}×{windowCols} of the {tableSize}² table.");
            long n = (long)batch * gridH * gridW * hidden;
            if (batch < 1 || hidden < 1) throw new ArgumentOutOfRangeException(nameof(batch), "batch and hidden size must be positive");
            if (tokens.Length < n) throw new ArgumentException($"tokens have {tokens.Length} elements; [B, h*w, hidden] = [{batch}, {gridH * gridW}, {hidden}] needs {n}.");
            if (window.Length < (long)windowRows * windowCols * hidden)
                throw new ArgumentException($"the position window has {window.Length} elements; [{windowRows}*{windowCols}, {hidden}] needs {(long)windowRows * windowCols * hidden}.");
            if (n > int.MaxValue) throw new ArgumentException("tokens are larger than 2^31 elements.");
            var (wt, wl) = WindowOrigin(windowRows, windowCols, tableSize);
            var (top, left) = WindowOrigin(gridH, gridW, tableSize);
            top -= wt; left -= wl;
            if (Device.IsManaged)
            {
                unsafe { Cpu.CpuOps.Crop(Cpu.CpuBackend.Ptr(tokens), Cpu.CpuBackend.Ptr(window), batch, gridH, gridW, hidden, windowCols, top, left, accumulate); }
                return;
            }
            _crop((int)n, tokens, window, new CropArgs
            {
                GridH = gridH, GridW = gridW, Hidden = hidden, TableSize = windowCols, Top = top, Left = left, Accumulate = accumulate ? 1 : 0,
            });
        }

        /// <summary>tokens [B, h*w, hidden] += the centre crop of table [M*M, hidden] (see the class summary).</summary>
        public void AddCropped(ArrayView<float> tokens, ArrayView<float> table, int batch, int gridH, int gridW, int hidden, int tableSize,
                               bool allowLargeGrid = false) =>
            Crop(tokens, table, batch, gridH, gridW, hidden, tableSize, allowLargeGrid, accumulate: true);

        /// <summary>output [h*w, hidden] = the centre crop of table [M*M, hidden] (the reference's cropped_pos_embed).</summary>
        public void CopyCropped(ArrayView<float> table, ArrayView<float> output, int gridH, int gridW, int hidden, int tableSize,
                                bool allowLargeGrid = false) =>
            Crop(output, table, 1, gridH, gridW, hidden, tableSize, allowLargeGrid, accumulate: false);

        void Crop(ArrayView<float> dst, ArrayView<float> table, int batch, int gridH, int gridW, int hidden, int tableSize, bool allowLargeGrid, bool accumulate)
        {
            var (top, left) = PlanCrop(gridH, gridW, tableSize, false, allowLargeGrid);
            long n = (long)batch * gridH * gridW * hidden;
            if (batch < 1 || hidden < 1) throw new ArgumentOutOfRangeException(nameof(batch), "batch and hidden size must be positive");
            if (dst.Length < n) throw new ArgumentException($"tokens have {dst.Length} elements; [B, h*w, hidden] = [{batch}, {gridH * gridW}, {hidden}] needs {n}.");
            if (table.Length < (long)tableSize * tableSize * hidden)
                throw new ArgumentException($"pos_embed has {table.Length} elements; [{tableSize}*{tableSize}, {hidden}] needs {(long)tableSize * tableSize * hidden}.");
            if (n > int.MaxValue) throw new ArgumentException("tokens are larger than 2^31 elements.");
            if (Device.IsManaged)
            {
                unsafe { Cpu.CpuOps.Crop(Cpu.CpuBackend.Ptr(dst), Cpu.CpuBackend.Ptr(table), batch, gridH, gridW, hidden, tableSize, top, left, accumulate); }
                return;
            }
            _crop((int)n, dst, table, new CropArgs
            {
                GridH = gridH, GridW = gridW, Hidden = hidden, TableSize = tableSize, Top = top, Left = left, Accumulate = accumulate ? 1 : 0,
            });
        }

        /// <summary>table [rows*cols, hidden] = the standard 2D sin-cos table (the reference's get_2d_sincos_pos_embed for
        /// rows = cols = grid_size). hidden must be a multiple of 4.</summary>
        public void GenerateTable(ArrayView<float> table, int rows, int cols, int hidden, SinCosGrid grid) =>
            SinCos(table, 1, rows, cols, hidden, 0, 0, grid, accumulate: false);

        /// <summary>tokens [B, h*w, hidden] += the window (rows top.., columns left..) of the unbounded sin-cos table;
        /// top and left may be negative (a grid larger than the checkpoint's table: see the class summary).</summary>
        public void AddSinCos(ArrayView<float> tokens, int batch, int gridH, int gridW, int hidden, int top, int left, SinCosGrid grid) =>
            SinCos(tokens, batch, gridH, gridW, hidden, top, left, grid, accumulate: true);

        /// <summary>
        /// The model's position step: tokens [B, h*w, hidden] += the centre crop of the checkpoint's table [M*M, hidden];
        /// when the grid exceeds the table and <paramref name="beyondTable"/> gives the table's sin-cos spacing, the window
        /// is generated instead. Throws <see cref="PatchGridException"/> as <see cref="PlanCrop"/> does.
        /// </summary>
        public void AddPositionEmbedding(ArrayView<float> tokens, ArrayView<float> table, int batch, int gridH, int gridW, int hidden,
                                         int tableSize, SinCosGrid? beyondTable = null, bool allowLargeGrid = false)
        {
            var (top, left) = PlanCrop(gridH, gridW, tableSize, beyondTable.HasValue, allowLargeGrid);
            if (gridH <= tableSize && gridW <= tableSize) AddCropped(tokens, table, batch, gridH, gridW, hidden, tableSize, allowLargeGrid);
            else AddSinCos(tokens, batch, gridH, gridW, hidden, top, left, beyondTable.Value);
        }

        void SinCos(ArrayView<float> dst, int batch, int gridH, int gridW, int hidden, int top, int left, SinCosGrid grid, bool accumulate)
        {
            if (hidden < 4 || hidden % 4 != 0) throw new ArgumentException($"a 2D sin-cos embedding needs a hidden size divisible by 4 (got {hidden}).");
            if (batch < 1 || gridH < 1 || gridW < 1) throw new ArgumentOutOfRangeException(nameof(batch), "batch and grid sizes must be positive");
            long n = (long)batch * gridH * gridW * hidden;
            if (dst.Length < n) throw new ArgumentException($"output has {dst.Length} elements; [{batch}, {gridH}*{gridW}, {hidden}] needs {n}.");
            if (n > int.MaxValue) throw new ArgumentException("output is larger than 2^31 elements.");
            if (Device.IsManaged)
            {
                unsafe { Cpu.CpuOps.SinCos(Cpu.CpuBackend.Ptr(dst), batch, gridH, gridW, hidden, top, left, grid.Step, grid.Offset, accumulate); }
                return;
            }
            _sinCos((int)n, dst, new SinCosArgs
            {
                GridH = gridH, GridW = gridW, Hidden = hidden, Top = top, Left = left,
                Step = grid.Step, Offset = grid.Offset, Accumulate = accumulate ? 1 : 0,
            });
        }

        /// <summary>
        /// Whether a checkpoint's table [M*M, hidden] (read to the host) is a 2D sin-cos table, and with which spacing:
        /// the step and offset are recovered from the phases of row 0 (lowest frequency first, unwrapping on the way up),
        /// then a spread of cells is compared with the formula (tolerance 5e-3 accepts F16/BF16 storage).
        /// </summary>
        public static bool TryDetectSinCos(float[] table, int tableSize, int hidden, out SinCosGrid grid, double tolerance = 5e-3)
        {
            grid = default;
            if (table == null || table.Length < (long)tableSize * tableSize * hidden) return false;
            return TryDetectSinCos((cell, row) => Array.Copy(table, (long)cell * hidden, row, 0, hidden), tableSize, hidden, out grid, tolerance);
        }

        /// <summary><see cref="TryDetectSinCos(float[], int, int, out SinCosGrid, double)"/> reading only the cells it
        /// checks: <paramref name="readCell"/>(cell, row) fills row [hidden] with cell i·M + j of the table (a few
        /// thousand cells of an M² table, so a model need not hold the whole table to detect it).</summary>
        public static bool TryDetectSinCos(Action<int, float[]> readCell, int tableSize, int hidden, out SinCosGrid grid, double tolerance = 5e-3)
        {
            grid = default;
            int M = tableSize, Q = hidden / 4;
            if (readCell == null || M < 2 || hidden < 4 || hidden % 4 != 0) return false;
            var first = new float[hidden];
            var last = new float[hidden];
            var row = new float[hidden];
            readCell(0, first);
            readCell(M - 1, last);
            double Omega(int k) => Math.Pow(10000.0, -(double)k / Q);
            double Phase(int cell, int k) { var r = cell == 0 ? first : last; return Math.Atan2(r[k], r[Q + k]); }
            double Unwrap(double measured, double predicted) => measured + 2 * Math.PI * Math.Round((predicted - measured) / (2 * Math.PI));
            double step = 0, offset = 0;
            for (int k = Q - 1; k >= 0; k--)
            {
                double w = Omega(k);
                double a0 = Unwrap(Phase(0, k), -offset * w);              // cell (0, 0): column position -offset
                offset = -a0 / w;
                double a1 = Unwrap(Phase(M - 1, k), ((M - 1) * step - offset) * w); // cell (0, M-1)
                step = (a1 / w + offset) / (M - 1);
            }
            var g = new SinCosGrid((float)step, (float)offset);
            int stride = Math.Max(1, M * M / 4096);
            for (int cell = 0; cell < M * M; cell += stride)
            {
                int i = cell / M, j = cell % M;
                readCell(cell, row);
                for (int c = 0; c < hidden; c++)
                    if (!(Math.Abs(row[c] - Reference.PositionGridReference.SinCosValue(i, j, c, hidden, g)) <= tolerance))
                        return false;
            }
            grid = g;
            return true;
        }

        // ---------------------------------------------------------------------------------------------------------
        // kernels (argument blocks are public only because ILGPU's CPU backend emits code that must see them)

        /// <summary>Argument block of the crop kernel.</summary>
        public struct CropArgs
        {
            public int GridH, GridW, Hidden, TableSize, Top, Left, Accumulate;
        }

        /// <summary>Argument block of the sin-cos kernel.</summary>
        public struct SinCosArgs
        {
            public int GridH, GridW, Hidden, Top, Left, Accumulate;
            public float Step, Offset;
        }

        /// <summary>dst[b, i*w + j, c] (+)= table[(top+i)*M + left+j, c]; one thread per element of dst [B, h*w, hidden].</summary>
        static void CropKernel(Index1D index, ArrayView<float> dst, ArrayView<float> table, CropArgs p)
        {
            int c = index % p.Hidden;
            int t = (index / p.Hidden) % (p.GridH * p.GridW);
            int i = t / p.GridW, j = t - i * p.GridW;
            float v = table[((long)(p.Top + i) * p.TableSize + p.Left + j) * p.Hidden + c];
            dst[index] = p.Accumulate != 0 ? dst[index] + v : v;
        }

        /// <summary>
        /// dst[b, i*w + j, c] (+)= the sin-cos embedding of cell (row top+i, column left+j): with Q = hidden/4,
        /// block = c / Q, k = c % Q, ω = 10000^(-k/Q), x = column position, y = row position:
        /// block 0 sin(xω), 1 cos(xω), 2 sin(yω), 3 cos(yω). One thread per element.
        /// </summary>
        static void SinCosKernel(Index1D index, ArrayView<float> dst, SinCosArgs p)
        {
            int c = index % p.Hidden;
            int t = (index / p.Hidden) % (p.GridH * p.GridW);
            int i = t / p.GridW, j = t - i * p.GridW;
            int q = p.Hidden / 4;
            int block = c / q, k = c - block * q;
            int cell = block < 2 ? p.Left + j : p.Top + i;
            float pos = cell * p.Step - p.Offset;
            float omega = XMath.Exp(-9.21034037198f * ((float)k / q)); // ln(10000) = 9.2103403719...
            float arg = pos * omega;
            float v = (block & 1) == 0 ? XMath.Sin(arg) : XMath.Cos(arg);
            dst[index] = p.Accumulate != 0 ? dst[index] + v : v;
        }
    }
}
