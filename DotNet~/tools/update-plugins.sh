#!/usr/bin/env bash
# Copies the netstandard2.1 DLLs that Unity needs (ILGPU, ILGPU.Algorithms and their dependencies) into
# Plugins/ILGPU/ from the packages the Kernels project restores, so their versions follow the csproj.
# Run it after changing a package version, then `DotNet~/tools/metas.sh` for any new DLL, and commit both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/DotNet~/artifacts/plugins-publish"
rm -rf "$out"
dotnet publish "$root/DotNet~/Sd3Tex.Kernels/Sd3Tex.Kernels.csproj" -f netstandard2.1 -c Release -o "$out" -nologo -v quiet
mkdir -p "$root/Plugins/ILGPU"
for dll in "$out"/*.dll; do
  name="$(basename "$dll")"
  case "$name" in Sd3Tex.*) continue ;; esac
  cp "$dll" "$root/Plugins/ILGPU/$name"
  echo "Plugins/ILGPU/$name"
done
