using System;
using System.Collections.Generic;
using System.Globalization;

namespace Sd3Tex.Cli;

/// <summary>A usage error: printed with the verb's help, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Minimal option parser: positional arguments, flags, and options taking one or more values
/// (<c>--weights a b c</c> runs until the next <c>--option</c>).</summary>
public sealed class Args
{
    readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);
    readonly HashSet<string> _used = new(StringComparer.Ordinal);
    public List<string> Positional { get; } = new();

    public Args(IEnumerable<string> args, ISet<string> flags)
    {
        string current = null;
        foreach (var a in args)
        {
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                string name = a.Substring(2), inline = null;
                int eq = name.IndexOf('=');
                if (eq > 0) { inline = name.Substring(eq + 1); name = name.Substring(0, eq); }
                if (!_options.TryGetValue(name, out var list)) _options[name] = list = new List<string>();
                if (inline != null) list.Add(inline);
                current = flags.Contains(name) || inline != null ? null : name;
                continue;
            }
            if (current != null) _options[current].Add(a);
            else Positional.Add(a);
        }
    }

    public bool Flag(string name)
    {
        _used.Add(name);
        if (!_options.TryGetValue(name, out var v)) return false;
        if (v.Count > 0) throw new UsageException($"--{name} takes no value");
        return true;
    }

    public List<string> Many(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v : new List<string>();
    }

    public string One(string name, string fallback = null)
    {
        var v = Many(name);
        if (!_options.ContainsKey(name)) return fallback;
        if (v.Count != 1) throw new UsageException($"--{name} takes exactly one value");
        return v[0];
    }

    public string Required(string name) => One(name) ?? throw new UsageException($"--{name} is required");

    public int Int(string name, int fallback)
    {
        var s = One(name);
        if (s == null) return fallback;
        return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw new UsageException($"--{name}: \"{s}\" is not an integer");
    }

    public double Double(string name, double fallback)
    {
        var s = One(name);
        if (s == null) return fallback;
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : throw new UsageException($"--{name}: \"{s}\" is not a number");
    }

    /// <summary>Fails on options the verb did not read, so a typo is never silently ignored.</summary>
    public void RejectUnknown()
    {
        foreach (var k in _options.Keys)
            if (!_used.Contains(k)) throw new UsageException($"unknown option --{k}");
    }
}
