#!/usr/bin/env bash
# Builds the FaceData fuzz targets with libFuzzer (swiftc -sanitize=fuzzer,address) and runs them.
#   Fuzz/run.sh smoke          each target ~1 s from the seed corpus (make fuzz-smoke, part of make test)
#   Fuzz/run.sh long [SECONDS] each target SECONDS (default 300) in a kept corpus (make fuzz)
# Crashes are written to .build-fuzz/artifacts/<target>/ and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-smoke}
seconds=${2:-300}
[ "$mode" = smoke ] && seconds=1
out=.build-fuzz
mkdir -p "$out"
binary=$out/facedata-fuzz
sources=$(ls Sources/FaceData/*.swift | grep -v '/Synth' | sort)
stamp=$(cat $sources Sources/Randomness/*.swift Fuzz/FaceDataFuzz.swift | sha1sum | cut -c1-16)
if [ ! -x "$binary" ] || [ "$(cat $out/stamp 2>/dev/null)" != "$stamp" ]; then
    echo "fuzz: building $binary"
    # FaceData imports the Randomness module: build it first as a static library beside the binary.
    swiftc -parse-as-library -O -module-name Randomness -emit-module -emit-module-path "$out/Randomness.swiftmodule" \
        -emit-library -static -o "$out/libRandomness.a" Sources/Randomness/*.swift
    swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FaceDataFuzz \
        -I Sources/CTurboJPEG -I "$out" -L "$out" -lRandomness $sources Fuzz/FaceDataFuzz.swift -o "$binary" 2>&1 \
        | grep -v "Cannot export local symbol" || true
    [ -x "$binary" ] || { echo "fuzz: build failed"; exit 1; }
    echo "$stamp" > $out/stamp
fi

fixtures=Tests/FaceDataTests/Fixtures
for target in recordio pickle npy torchpickle torchlegacy; do
    corpus=$out/corpus/$target
    artifacts=$out/artifacts/$target/
    mkdir -p "$corpus" "$artifacts"
    case $target in
        pickle) cp $fixtures/*.bin "$corpus"/ ;;
        npy) cp $fixtures/*.npy "$corpus"/ ;;
        torchpickle|torchlegacy)
            # Seeds from Debian's torch when it is there (make test installs it); else libFuzzer starts empty.
            if [ ! -e "$corpus/seed" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
                /usr/bin/python3 Fuzz/torch_seeds.py "$target" "$corpus/seed" || true
            fi ;;
        recordio)
            for prefix in python_insightface python_im2rec; do
                { cat $fixtures/$prefix.idx; printf '\0'; cat $fixtures/$prefix.rec; } > "$corpus/$prefix"
            done ;;
    esac
    echo "fuzz: $target for ${seconds}s"
    if ! FUZZ_TARGET=$target "$binary" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
            -artifact_prefix="$artifacts" "$corpus" > "$out/$target.log" 2>&1; then
        tail -40 "$out/$target.log"
        echo "fuzz: $target FAILED (input saved under $artifacts)"
        exit 1
    fi
    grep -E "^Done|#[0-9]+ *DONE" "$out/$target.log" | tail -1
done
rm -f /dev/shm/haarface-fuzz-*.rec /dev/shm/haarface-fuzz-*.idx
