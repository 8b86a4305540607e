#!/usr/bin/env bash
# Copies the netstandard2.1 DLLs that Unity needs into Plugins/ from the packages the projects restore, so their
# versions follow the csproj files:
#   Plugins/ILGPU/       ILGPU, ILGPU.Algorithms and their dependencies (what the Kernels project publishes)
#   Plugins/ImageSharp/  SixLabors.ImageSharp and the dependency Unity lacks (what the Runtime project adds)
# Run it after changing a package version, then `DotNet~/tools/metas.sh` for any new DLL (copy the import settings
# of a DLL beside it: Editor only, explicitly referenced), and commit both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kernels="$root/DotNet~/artifacts/plugins-publish"
runtime="$root/DotNet~/artifacts/plugins-publish-runtime"
rm -rf "$kernels" "$runtime"
dotnet publish "$root/DotNet~/Sd3Tex.Kernels/Sd3Tex.Kernels.csproj" -f netstandard2.1 -c Release -o "$kernels" -nologo -v quiet
dotnet publish "$root/DotNet~/Sd3Tex.Runtime/Sd3Tex.Runtime.csproj" -f netstandard2.1 -c Release -o "$runtime" -nologo -v quiet
mkdir -p "$root/Plugins/ILGPU" "$root/Plugins/ImageSharp"
for dll in "$kernels"/*.dll; do
  name="$(basename "$dll")"
  case "$name" in Sd3Tex.*) continue ;; esac
  cp "$dll" "$root/Plugins/ILGPU/$name"
  echo "Plugins/ILGPU/$name"
done
# System.Buffers, System.Memory and System.Numerics.Vectors are part of .NET Standard 2.1 (Unity has them); the
# Runtime publish adds only ImageSharp and System.Text.Encoding.CodePages beyond the Kernels' DLLs.
for dll in "$runtime"/*.dll; do
  name="$(basename "$dll")"
  case "$name" in Sd3Tex.*) continue ;; esac
  [ -e "$kernels/$name" ] && continue
  cp "$dll" "$root/Plugins/ImageSharp/$name"
  echo "Plugins/ImageSharp/$name"
done
