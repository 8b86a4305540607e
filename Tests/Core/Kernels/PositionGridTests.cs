using System;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;
using Sd3Tex.Kernels.Reference;

namespace Sd3Tex.Tests.Kernels
{
    /// <summary>Position-table crop and the 2D sin-cos generator, against <see cref="PositionGridReference"/> and the
    /// tiny SD3 fixture (whose pos_embed is a standard sin-cos table stored in F16).</summary>
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class PositionGridTests : DeviceTestBase
    {
        public PositionGridTests(string device) : base(device) { }

        const string Fixture = "mmdit-tiny-sd3m";
        const string PosEmbedKey = "model.diffusion_model.pos_embed";
        PositionGrid _grid;
        PositionGrid Grid => _grid ??= new PositionGrid(Device);

        MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] a) => Device.Accelerator.Allocate1D(a);

        static float[] Read(string file, string name)
        {
            using var f = SafetensorsFile.Open(TestPaths.Fixture(Fixture, file));
            var t = f[name];
            Assert.That(t, Is.Not.Null, name + " in " + file);
            return f.ReadFloats(t);
        }

        [Test]
        public void CropMatchesTheFixtureGolden()
        {
            // latent 8×12, patch 2 → grid 4×6 in a 16×16 table: top 6, left 5
            var table = Read("model.safetensors", PosEmbedKey);
            var golden = Read("golden.safetensors", "pos_embed_cropped");
            Assert.That(PositionGrid.PlanCrop(4, 6, 16), Is.EqualTo((6, 5)));
            using var tb = Upload(table);
            using var o = Device.Accelerator.Allocate1D<float>(24 * 128);
            Grid.CopyCropped(tb.View, o.View, 4, 6, 128, 16);
            var got = o.GetAsArray1D();
            KernelAssert.Close(golden, got, 5e-5, 0, "pos_embed_cropped");
            KernelAssert.Close(PositionGridReference.Crop(table, 16, 4, 6, 128), got, 0, 0, "crop vs reference");
        }

        [TestCase(2, 10, 3, 7, 7, 9, 12)] // a window wider than tall, grid smaller than it both ways
        [TestCase(1, 11, 4, 5, 4, 5, 8)]  // the window of the grid itself (odd table: floor division)
        [TestCase(2, 16, 1, 6, 9, 16, 4)] // a window of full width
        public void CropFromACentreWindowEqualsTheTableCrop(int batch, int tableSize, int gridH, int gridW, int rows, int cols, int hidden)
        {
            // the MMDiT keeps only the centre window of the largest grid; every smaller grid's crop reads the same values
            var table = KernelAssert.Random(tableSize * tableSize * hidden, tableSize + rows);
            var (top, left) = PositionGrid.WindowOrigin(rows, cols, tableSize);
            var window = new float[rows * cols * hidden];
            for (int r = 0; r < rows; r++)
                Array.Copy(table, ((long)(top + r) * tableSize + left) * hidden, window, (long)r * cols * hidden, (long)cols * hidden);
            var tokens = KernelAssert.Random(batch * gridH * gridW * hidden, gridW);
            var expected = PositionGridReference.AddBroadcast(tokens, PositionGridReference.Crop(table, tableSize, gridH, gridW, hidden), batch);
            using var wb = Upload(window);
            using var xb = Upload(tokens);
            Grid.AddFromWindow(xb.View, wb.View, batch, gridH, gridW, hidden, tableSize, rows, cols);
            KernelAssert.Close(expected, xb.GetAsArray1D(), 0, 0, "tokens + crop read from the window");
            Assert.Throws<ArgumentException>(() => Grid.AddFromWindow(xb.View, wb.View, batch, rows + 1, gridW, hidden, tableSize, rows, cols));
        }

        [TestCase(2, 10, 3, 7, 12)]
        [TestCase(1, 10, 10, 10, 8)]
        [TestCase(3, 9, 4, 1, 16)]
        [TestCase(1, 7, 6, 5, 4)]
        public void AddCroppedMatchesReference(int batch, int tableSize, int gridH, int gridW, int hidden)
        {
            var table = KernelAssert.Random(tableSize * tableSize * hidden, tableSize + gridH);
            var tokens = KernelAssert.Random(batch * gridH * gridW * hidden, gridW);
            var expected = PositionGridReference.AddBroadcast(tokens, PositionGridReference.Crop(table, tableSize, gridH, gridW, hidden), batch);
            using var tb = Upload(table);
            using var xb = Upload(tokens);
            Grid.AddCropped(xb.View, tb.View, batch, gridH, gridW, hidden, tableSize);
            KernelAssert.Close(expected, xb.GetAsArray1D(), 1e-6, 0, "tokens + cropped table");
        }

        static readonly object[] Tables =
        {
            new object[] { 16, 16, 128, 1f, 0f },
            new object[] { 5, 7, 24, 1f, 0f },
            new object[] { 3, 3, 8, 0.5f, 1.5f },      // mmditx scaling_factor 2, offset 1.5
            new object[] { 20, 20, 16, 64f / 192f, 0f }, // diffusers grid 192, base 64: positions i/3
            new object[] { 1, 192, 12, 1f, 0f },         // far positions
        };

        [TestCaseSource(nameof(Tables))]
        public void GeneratedTableMatchesReference(int rows, int cols, int hidden, float step, float offset)
        {
            var g = new SinCosGrid(step, offset);
            var expected = PositionGridReference.SinCosTable(rows, cols, hidden, g);
            using var o = Device.Accelerator.Allocate1D<float>(rows * cols * hidden);
            Grid.GenerateTable(o.View, rows, cols, hidden, g);
            KernelAssert.Close(expected, o.GetAsArray1D(), 3e-5, 0, "sin-cos table");
        }

        [Test]
        public void ReferenceTableHasTheDocumentedLayout()
        {
            // cell (row 2, column 5) of a hidden-8 table: Q = 2, ω = [1, 0.01]; [sin x ω | cos x ω | sin y ω | cos y ω], x = 5, y = 2
            var t = PositionGridReference.SinCosTable(3, 7, 8, SinCosGrid.Standard);
            int cell = 2 * 7 + 5;
            var expected = new[] { Math.Sin(5), Math.Sin(0.05), Math.Cos(5), Math.Cos(0.05), Math.Sin(2), Math.Sin(0.02), Math.Cos(2), Math.Cos(0.02) };
            for (int c = 0; c < 8; c++) Assert.That(t[cell * 8 + c], Is.EqualTo(expected[c]).Within(1e-7), $"channel {c}");
        }

        [Test]
        public void FixtureTableIsTheStandardSinCosTable()
        {
            var table = Read("model.safetensors", PosEmbedKey);
            using var o = Device.Accelerator.Allocate1D<float>(16 * 16 * 128);
            Grid.GenerateTable(o.View, 16, 16, 128, SinCosGrid.Standard);
            // the stored table is F16: half an F16 ulp at 1 is 2.4e-4
            KernelAssert.Close(table, o.GetAsArray1D(), 5e-4, 0, "generated vs checkpoint pos_embed");
            Assert.That(PositionGrid.TryDetectSinCos(table, 16, 128, out var g), Is.True);
            Assert.That(g.Step, Is.EqualTo(1f).Within(1e-4));
            Assert.That(g.Offset, Is.EqualTo(0f).Within(1e-3));
        }

        [Test]
        public void DetectionRecoversSpacingAndRejectsOtherTables()
        {
            var g = new SinCosGrid(1f / 3f, 0.75f);
            var table = PositionGridReference.SinCosTable(24, 24, 64, g);
            Assert.That(PositionGrid.TryDetectSinCos(table, 24, 64, out var found), Is.True);
            Assert.That(found.Step, Is.EqualTo(g.Step).Within(1e-5));
            Assert.That(found.Offset, Is.EqualTo(g.Offset).Within(1e-4));
            Assert.That(PositionGrid.TryDetectSinCos(KernelAssert.Random(24 * 24 * 64, 3), 24, 64, out _), Is.False);
        }

        [Test]
        public void GridsBeyondTheTableAreGenerated()
        {
            // 20×13 in a 16×16 table: top = (16-20)//2 = -2, left = (16-13)//2 = 1
            var table = Read("model.safetensors", PosEmbedKey);
            int batch = 2, h = 20, w = 13, hidden = 128;
            Assert.That(PositionGrid.PlanCrop(h, w, 16, canGenerate: true), Is.EqualTo((-2, 1)));
            var tokens = KernelAssert.Random(batch * h * w * hidden, 8);
            var expected = PositionGridReference.AddBroadcast(tokens,
                PositionGridReference.SinCosWindow(-2, 1, h, w, hidden, SinCosGrid.Standard), batch);
            using var tb = Upload(table);
            using var xb = Upload(tokens);
            Grid.AddPositionEmbedding(xb.View, tb.View, batch, h, w, hidden, 16, SinCosGrid.Standard);
            KernelAssert.Close(expected, xb.GetAsArray1D(), 5e-5, 0, "tokens + generated window");

            // inside the table the generated window agrees with the stored crop (to F16 precision)
            var (top, left) = PositionGrid.PlanCrop(4, 6, 16);
            using var z = Device.Accelerator.Allocate1D<float>(24 * hidden);
            z.MemSetToZero();
            Grid.AddSinCos(z.View, 1, 4, 6, hidden, top, left, SinCosGrid.Standard);
            KernelAssert.Close(PositionGridReference.Crop(table, 16, 4, 6, hidden), z.GetAsArray1D(), 5e-4, 0, "generated window vs crop");
        }

        [Test]
        public void OversizedGridsAreClearErrors()
        {
            var e = Assert.Throws<PatchGridException>(() => PositionGrid.PlanCrop(193, 100, 192, canGenerate: true));
            Assert.That(e.Message, Does.Contain("192").And.Contain("allowLargeGrid"));
            Assert.That(PositionGrid.PlanCrop(200, 100, 192, canGenerate: true, allowLargeGrid: true), Is.EqualTo((-4, 46)));
            e = Assert.Throws<PatchGridException>(() => PositionGrid.PlanCrop(17, 4, 16));
            Assert.That(e.Message, Does.Contain("pos_embed").And.Contain("16×16"));
            using var t = Device.Accelerator.Allocate1D<float>(16 * 16 * 8);
            using var x = Device.Accelerator.Allocate1D<float>(17 * 4 * 8);
            Assert.Throws<PatchGridException>(() => Grid.AddPositionEmbedding(x.View, t.View, 1, 17, 4, 8, 16));
            Assert.Throws<PatchGridException>(() => Grid.AddCropped(x.View, t.View, 1, 17, 4, 8, 16));
        }
    }
}
