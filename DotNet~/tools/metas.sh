#!/usr/bin/env bash
# Writes a Unity .meta for every file and folder of the package that lacks one (Unity never runs here, so
# nothing else would). GUIDs are derived from the package name and the path, so they are stable and unique;
# an existing .meta is never touched. Hidden entries and folders ending in ~ are skipped, as Unity skips them.
#   DotNet~/tools/metas.sh          create the missing ones and list them
#   DotNet~/tools/metas.sh --check  only list what is missing or orphaned; exit 1 if anything is
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
check=0; [ "${1:-}" = "--check" ] && check=1
status=0

meta_body() { # $1 = relative path
  local p="$1" guid
  guid=$(printf 'com.seed.sd3tex:%s' "$p" | md5sum | cut -c1-32)
  printf 'fileFormatVersion: 2\nguid: %s\n' "$guid"
  if [ -d "$p" ]; then
    printf 'folderAsset: yes\nDefaultImporter:\n  externalObjects: {}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n'
    return
  fi
  case "$p" in
    *.cs) printf 'MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n  executionOrder: 0\n  icon: {instanceID: 0}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n' ;;
    *.asmdef) printf 'AssemblyDefinitionImporter:\n  externalObjects: {}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n' ;;
    *.asset) printf 'NativeFormatImporter:\n  externalObjects: {}\n  mainObjectFileID: 11400000\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n' ;;
    *.md|*.json|*.txt) printf 'TextScriptImporter:\n  externalObjects: {}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n' ;;
    *.dll)
      # Editor only, explicitly referenced; a define lets a project that has its own copy leave ours out
      local define=SD3TEX_EXTERNAL_ILGPU
      case "$p" in Plugins/ImageSharp/*) define=SD3TEX_EXTERNAL_IMAGESHARP ;; esac
      cat <<DLL
PluginImporter:
  externalObjects: {}
  serializedVersion: 2
  iconMap: {}
  executionOrder: {}
  defineConstraints:
  - '!$define'
  isPreloaded: 0
  isOverridable: 1
  isExplicitlyReferenced: 1
  validateReferences: 1
  platformData:
  - first:
      : Any
    second:
      enabled: 0
      settings:
        Exclude Editor: 0
        Exclude Linux64: 1
        Exclude OSXUniversal: 1
        Exclude Win: 1
        Exclude Win64: 1
  - first:
      Any: 
    second:
      enabled: 0
      settings: {}
  - first:
      Editor: Editor
    second:
      enabled: 1
      settings:
        CPU: AnyCPU
        DefaultValueInitialized: true
        OS: AnyOS
  userData: 
  assetBundleName: 
  assetBundleVariant: 
DLL
    ;;
    *) printf 'DefaultImporter:\n  externalObjects: {}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n' ;;
  esac
}

# everything Unity imports: skip hidden names, names ending in ~, and .meta files themselves
while IFS= read -r -d '' p; do
  p="${p#./}"
  if [ ! -e "$p.meta" ]; then
    if [ $check = 1 ]; then echo "missing: $p.meta"; status=1
    else meta_body "$p" > "$p.meta"; echo "created: $p.meta"; fi
  fi
done < <(find . -mindepth 1 \( -name '.*' -o -name '*~' \) -prune -o ! -name '*.meta' -print0 | sort -z)

while IFS= read -r -d '' m; do
  m="${m#./}"
  if [ ! -e "${m%.meta}" ]; then echo "orphaned: $m"; status=1; fi
done < <(find . -mindepth 1 \( -name '.*' -o -name '*~' \) -prune -o -name '*.meta' -print0 | sort -z)

# Samples~ is ignored until a sample is imported; then its files are copied into Assets/. Files (not the sample
# folders, which Unity creates) carry a .meta so their GUIDs, and references between them, survive the import.
if [ -d "Samples~" ]; then
  while IFS= read -r -d '' p; do
    p="${p#./}"
    if [ ! -e "$p.meta" ]; then
      if [ $check = 1 ]; then echo "missing: $p.meta"; status=1
      else meta_body "$p" > "$p.meta"; echo "created: $p.meta"; fi
    fi
  done < <(find ./Samples~ -mindepth 2 -name '.*' -prune -o -type f ! -name '*.meta' -print0 | sort -z)
  while IFS= read -r -d '' m; do
    m="${m#./}"
    if [ ! -e "${m%.meta}" ]; then echo "orphaned: $m"; status=1; fi
  done < <(find ./Samples~ -mindepth 2 -name '*.meta' -print0 | sort -z)
fi
exit $status
