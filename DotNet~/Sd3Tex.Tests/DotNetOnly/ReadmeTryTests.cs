using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using NUnit.Framework;
using Sd3Tex.Imaging;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>
/// A newcomer without weights: the README's two commands for trying the package (the code block after "No weights
/// yet?") are taken from the README text and run as they are, by bash, in an empty folder outside the package where
/// nothing of the shared fixtures is reachable (SD3TEX_SHARED points nowhere, no ../shared, an empty HOME), and they
/// write a PNG. `DotNet~/sd3tex` there stands in for the package's script (which builds the tool first): it runs the
/// tool built with these tests.
/// </summary>
public sealed class ReadmeTryTests
{
    /// <summary>The shell commands of the README's "No weights yet?" block, continuation lines joined.</summary>
    public static List<string> TryCommands(string readme)
    {
        int at = readme.IndexOf("No weights yet?", StringComparison.Ordinal);
        Assert.That(at, Is.GreaterThanOrEqualTo(0), "the README has no \"No weights yet?\" paragraph");
        int open = readme.IndexOf("```sh\n", at, StringComparison.Ordinal);
        int close = readme.IndexOf("\n```", open + 6, StringComparison.Ordinal);
        Assert.That(open >= 0 && close > open, Is.True, "no sh code block after \"No weights yet?\"");
        string block = readme.Substring(open + 6, close - open - 6).Replace("\\\n", " ");
        return block.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith("#", StringComparison.Ordinal)).ToList();
    }

    [Test]
    public void TheReadmesTwoCommandsWriteAPngWithNothingButThePackage()
    {
        if (OperatingSystem.IsWindows()) Assert.Ignore("the README's commands are for a Debian shell");
        var commands = TryCommands(File.ReadAllText(Path.Combine(TestPaths.PackageRoot, "README.md")).Replace("\r\n", "\n"));
        Assert.That(commands.Count, Is.EqualTo(2), string.Join("\n", commands));
        Assert.That(commands[0], Does.StartWith("DotNet~/sd3tex make-random-checkpoint "));
        Assert.That(commands[1], Does.StartWith("DotNet~/sd3tex generate "));
        foreach (var c in commands) Assert.That(c, Does.Not.Contain("--tokenizers").And.Not.Contain("--clip-heads"), c);

        string dir = Path.Combine(Path.GetTempPath(), "sd3tex-readme-" + Guid.NewGuid().ToString("N").Substring(0, 8));
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "DotNet~"));
            Directory.CreateDirectory(Path.Combine(dir, "home"));
            string shim = Path.Combine(dir, "DotNet~", "sd3tex");
            File.WriteAllText(shim, $"#!/usr/bin/env bash\nexec dotnet \"{Cli.ToolDll}\" \"$@\"\n");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Assert.That(Directory.Exists(Path.Combine(dir, "..", "shared")) && Path.GetFullPath(Path.Combine(dir, "..", "shared")) == Path.GetFullPath(TestPaths.Shared), Is.False);
            var env = new Dictionary<string, string>
            {
                ["SD3TEX_SHARED"] = Path.Combine(dir, "no-shared-here"), ["HOME"] = Path.Combine(dir, "home"),
                ["HF_HOME"] = null, ["HF_HUB_CACHE"] = null, ["COMFYUI_PATH"] = null, ["SD3TEX_MODELS"] = null,
            };
            var log = new StringBuilder();
            foreach (var c in commands)
            {
                var psi = new System.Diagnostics.ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir };
                psi.ArgumentList.Add("-c");
                psi.ArgumentList.Add(c);
                foreach (var kv in env) { if (kv.Value == null) psi.Environment.Remove(kv.Key); else psi.Environment[kv.Key] = kv.Value; }
                using var p = System.Diagnostics.Process.Start(psi)!;
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                Assert.That(p.WaitForExit(300_000), Is.True, c);
                log.AppendLine("$ " + c).AppendLine(stdout.Result).AppendLine(stderr.Result);
                Assert.That(p.ExitCode, Is.EqualTo(0), log.ToString());
            }
            TestContext.Progress.WriteLine("  " + log.ToString().Trim().Replace("\n", "\n  "));
            // the bundled tokenizers (not the shared folder's), the heads the checkpoint declares
            Assert.That(log.ToString(), Does.Contain("tokenizers: those bundled with the package"));
            var png = PngReader.Read(Path.Combine(dir, "tiny", "out.png"));
            Assert.That((png.Width, png.Height), Is.EqualTo((256, 256)));
            Assert.That(GenerationParameters.FromPng(png).Prompt, Is.EqualTo("mossy stone bricks"));
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
