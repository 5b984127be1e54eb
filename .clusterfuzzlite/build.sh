#!/bin/bash -eu
# Builds one libFuzzer fuzzer per difftest implementation into $OUT, plus each
# fuzzer's seed corpus as $OUT/<fuzzer>_seed_corpus.zip.
#
# Inside the OSS-Fuzz image (compile_python_fuzzer exists) every target is
# packaged with PyInstaller. Elsewhere, e.g. to check the build locally,
#     OUT=/tmp/out .clusterfuzzlite/build.sh
# writes a launcher per fuzzer that runs the target with this checkout.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -f "$ROOT/../pyproject.toml" ]; then ROOT="$(cd "$ROOT/.." && pwd)"; else ROOT="$(pwd)"; fi
cd "$ROOT"
: "${OUT:?set OUT to the output directory}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"

if command -v compile_python_fuzzer >/dev/null; then
  pip3 install .
fi
# A target for every implementation in the registry, including ones added later.
PYTHONPATH="$ROOT" "$PYTHON" fuzz_targets/make_targets.py >/dev/null

for target in fuzz_targets/fuzz_*.py; do
  name="$(basename "$target" .py)"
  [ "$name" = fuzz_generic ] && continue  # needs --impl: not for a service
  if command -v compile_python_fuzzer >/dev/null; then
    # Implementations are imported by name at run time: bundle them all.
    compile_python_fuzzer "$target" --collect-submodules=difftest --paths=fuzz_targets
  else
    printf '#!/bin/sh\nPYTHONPATH=%q exec %q %q "$@"\n' \
      "$ROOT" "$(command -v "$PYTHON")" "$ROOT/$target" > "$OUT/$name"
    chmod +x "$OUT/$name"
  fi
  impl="$(sed -n 's/^    main(impl="\(.*\)")$/\1/p' "$target")"
  if [ -d "corpus/seeds/$impl" ]; then
    "$PYTHON" -c 'import sys, zipfile, pathlib
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for p in sorted(pathlib.Path(sys.argv[2]).iterdir()):
        z.write(p, p.name)' "$OUT/${name}_seed_corpus.zip" "corpus/seeds/$impl"
  fi
done
