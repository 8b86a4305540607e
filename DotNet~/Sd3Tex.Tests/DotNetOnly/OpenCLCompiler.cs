using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>
/// Builds OpenCL C source with a real OpenCL compiler through the ICD loader (libOpenCL), e.g. PoCL's CPU device.
/// Only clBuildProgram is used: nothing is run, so a device without generic address space support (which ILGPU's
/// OpenCL runtime requires) can still judge whether the source compiles.
/// </summary>
public static class OpenCLCompiler
{
    const string Lib = "libOpenCL.so.1";

    [DllImport(Lib)] static extern int clGetPlatformIDs(uint num, IntPtr[] platforms, out uint count);
    [DllImport(Lib)] static extern int clGetDeviceIDs(IntPtr platform, ulong type, uint num, IntPtr[] devices, out uint count);
    [DllImport(Lib)] static extern int clGetDeviceInfo(IntPtr device, uint param, UIntPtr size, byte[] value, out UIntPtr ret);
    [DllImport(Lib)] static extern IntPtr clCreateContext(IntPtr props, uint num, IntPtr[] devices, IntPtr notify, IntPtr user, out int err);
    [DllImport(Lib)] static extern IntPtr clCreateProgramWithSource(IntPtr context, uint count, string[] strings, UIntPtr[] lengths, out int err);
    [DllImport(Lib)] static extern int clBuildProgram(IntPtr program, uint num, IntPtr[] devices, string options, IntPtr notify, IntPtr user);
    [DllImport(Lib)] static extern int clGetProgramBuildInfo(IntPtr program, IntPtr device, uint param, UIntPtr size, byte[] value, out UIntPtr ret);
    [DllImport(Lib)] static extern int clReleaseProgram(IntPtr program);
    [DllImport(Lib)] static extern int clReleaseContext(IntPtr context);

    const ulong DeviceTypeAll = 0xFFFFFFFF;
    const uint DeviceName = 0x102B, DeviceVersion = 0x102F, DeviceOpenCLCVersion = 0x103D, ProgramBuildLog = 0x1183;

    /// <summary>The first OpenCL device, or null with the reason when there is none (no ICD loader or no platform).</summary>
    public static (IntPtr device, string description, string whyNot) FirstDevice()
    {
        try
        {
            if (clGetPlatformIDs(0, null, out uint n) != 0 || n == 0) return (IntPtr.Zero, null, "no OpenCL platform");
            var platforms = new IntPtr[n];
            clGetPlatformIDs(n, platforms, out _);
            foreach (var p in platforms)
            {
                if (clGetDeviceIDs(p, DeviceTypeAll, 0, null, out uint dn) != 0 || dn == 0) continue;
                var devices = new IntPtr[dn];
                clGetDeviceIDs(p, DeviceTypeAll, dn, devices, out _);
                return (devices[0], $"{Info(devices[0], DeviceName)} ({Info(devices[0], DeviceVersion)}, {Info(devices[0], DeviceOpenCLCVersion)})", null);
            }
            return (IntPtr.Zero, null, "no OpenCL device");
        }
        catch (DllNotFoundException) { return (IntPtr.Zero, null, "no OpenCL ICD loader (libOpenCL.so.1)"); }
        catch (EntryPointNotFoundException e) { return (IntPtr.Zero, null, e.Message); }
    }

    static string Info(IntPtr device, uint param)
    {
        clGetDeviceInfo(device, param, UIntPtr.Zero, null, out var size);
        var b = new byte[(int)size];
        clGetDeviceInfo(device, param, size, b, out _);
        return Encoding.ASCII.GetString(b).TrimEnd('\0').Trim();
    }

    /// <summary>Builds <paramref name="source"/>; returns null on success, else the error code and build log.</summary>
    public static string Build(IntPtr device, string source, string options)
    {
        var ctx = clCreateContext(IntPtr.Zero, 1, new[] { device }, IntPtr.Zero, IntPtr.Zero, out int err);
        if (err != 0) return $"clCreateContext failed ({err})";
        try
        {
            var prog = clCreateProgramWithSource(ctx, 1, new[] { source }, new[] { (UIntPtr)Encoding.UTF8.GetByteCount(source) }, out err);
            if (err != 0) return $"clCreateProgramWithSource failed ({err})";
            try
            {
                int rc = clBuildProgram(prog, 1, new[] { device }, options, IntPtr.Zero, IntPtr.Zero);
                if (rc == 0) return null;
                clGetProgramBuildInfo(prog, device, ProgramBuildLog, UIntPtr.Zero, null, out var size);
                var log = new byte[(int)size];
                clGetProgramBuildInfo(prog, device, ProgramBuildLog, size, log, out _);
                return $"clBuildProgram failed ({rc}): {Encoding.UTF8.GetString(log).TrimEnd('\0')}";
            }
            finally { clReleaseProgram(prog); }
        }
        finally { clReleaseContext(ctx); }
    }
}
