using System.IO;
using Sd3Tex.Checkpoints;
using Sd3Tex.Models;
using System.Collections.Generic;

namespace Sd3Tex.Cli;

static class DeviceModels
{
    public static IMmditModel OpenMmdit(IReadOnlyDictionary<string, Weight> weights, string device, TextWriter log)
        => throw new UsageException("TEMPORARY");
}
