using System;

namespace Sd3Tex.Kernels.Reference
{
    /// <summary>
    /// Plain C# position embeddings, following the reference's numpy code step by step (positions in float32 as numpy
    /// makes them, frequencies and sin/cos in double). <see cref="PositionGrid"/>'s kernels are tested against it.
    /// </summary>
    public static class PositionGridReference
    {
        /// <summary>The float32 position of grid index <paramref name="index"/>: index * Step - Offset, rounded to float32 after
        /// each step as numpy's float32 grid is (mmditx divides by scaling_factor instead of multiplying by its inverse,
        /// which can differ in the last bit).</summary>
        public static float Position(int index, SinCosGrid grid)
        {
            float p = index;
            if (grid.Step != 1f) p = (float)((double)p * grid.Step);
            if (grid.Offset != 0f) p = (float)((double)p - grid.Offset);
            return p;
        }

        /// <summary>get_1d_sincos_pos_embed_from_grid: positions [M] → [M, embedDim] =
        /// [sin(pos ω_k) for k &lt; E/2 | cos(pos ω_k) for k &lt; E/2], ω_k = 1 / 10000^(k / (E/2)).</summary>
        public static double[] SinCos1D(int embedDim, float[] positions)
        {
            if (embedDim % 2 != 0) throw new ArgumentException("embed_dim must be even");
            int half = embedDim / 2, M = positions.Length;
            var omega = new double[half];
            for (int k = 0; k < half; k++) omega[k] = 1.0 / Math.Pow(10000.0, k / (double)half);
            var r = new double[M * embedDim];
            for (int m = 0; m < M; m++)
                for (int k = 0; k < half; k++)
                {
                    double a = positions[m] * omega[k];
                    r[m * embedDim + k] = Math.Sin(a);
                    r[m * embedDim + half + k] = Math.Cos(a);
                }
            return r;
        }

        /// <summary>
        /// get_2d_sincos_pos_embed for a rows×cols grid → [rows*cols, hidden], cells row-major.
        /// meshgrid(grid_w, grid_h) makes grid[0] the COLUMN coordinate and grid[1] the ROW coordinate; the first half of
        /// each embedding encodes grid[0], the second half grid[1].
        /// </summary>
        public static float[] SinCosTable(int rows, int cols, int hidden, SinCosGrid grid)
        {
            if (hidden % 2 != 0) throw new ArgumentException("embed_dim must be even");
            int n = rows * cols, half = hidden / 2;
            var colPos = new float[n];
            var rowPos = new float[n];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                {
                    colPos[i * cols + j] = Position(j, grid);
                    rowPos[i * cols + j] = Position(i, grid);
                }
            var a = SinCos1D(half, colPos);
            var b = SinCos1D(half, rowPos);
            var table = new float[n * hidden];
            for (int m = 0; m < n; m++)
                for (int c = 0; c < half; c++)
                {
                    table[m * hidden + c] = (float)a[m * half + c];
                    table[m * hidden + half + c] = (float)b[m * half + c];
                }
            return table;
        }

        /// <summary>One element of the (unbounded) table: cell (row, col), channel c; row and col may be negative.</summary>
        public static double SinCosValue(int row, int col, int c, int hidden, SinCosGrid grid)
        {
            int half = hidden / 2, q = hidden / 4;
            bool rowHalf = c >= half;
            int k = (rowHalf ? c - half : c) % q;
            bool cos = (rowHalf ? c - half : c) >= q;
            double a = Position(rowHalf ? row : col, grid) / Math.Pow(10000.0, k / (double)q);
            return cos ? Math.Cos(a) : Math.Sin(a);
        }

        /// <summary>cropped_pos_embed: table [M*M, hidden] viewed as [M, M, hidden], rows top..top+h-1 and columns
        /// left..left+w-1 with top = (M-h)//2, left = (M-w)//2 → [h*w, hidden].</summary>
        public static float[] Crop(float[] table, int tableSize, int gridH, int gridW, int hidden)
        {
            if (gridH > tableSize || gridW > tableSize) throw new ArgumentException("grid larger than the table");
            int top = (tableSize - gridH) / 2, left = (tableSize - gridW) / 2;
            var r = new float[gridH * gridW * hidden];
            for (int i = 0; i < gridH; i++)
                for (int j = 0; j < gridW; j++)
                    Array.Copy(table, ((top + i) * tableSize + left + j) * hidden, r, (i * gridW + j) * hidden, hidden);
            return r;
        }

        /// <summary>The window of the unbounded sin-cos table at (top, left), top/left possibly negative → [h*w, hidden].</summary>
        public static float[] SinCosWindow(int top, int left, int gridH, int gridW, int hidden, SinCosGrid grid)
        {
            var r = new float[gridH * gridW * hidden];
            for (int i = 0; i < gridH; i++)
                for (int j = 0; j < gridW; j++)
                    for (int c = 0; c < hidden; c++)
                        r[(i * gridW + j) * hidden + c] = (float)SinCosValue(top + i, left + j, c, hidden, grid);
            return r;
        }

        /// <summary>tokens [B, T, hidden] + pos [T, hidden] (broadcast over the batch).</summary>
        public static float[] AddBroadcast(float[] tokens, float[] pos, int batch)
        {
            var r = (float[])tokens.Clone();
            for (int b = 0; b < batch; b++)
                for (int e = 0; e < pos.Length; e++) r[b * pos.Length + e] += pos[e];
            return r;
        }
    }
}
