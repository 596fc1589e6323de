#!/usr/bin/env bash
# Builds the fuzz targets (Fuzz/Targets: every reader of untrusted bytes) with libFuzzer and AddressSanitizer
# and runs them:
#   Fuzz/run.sh smoke                        each target ~1 s on its committed corpus (make fuzz-smoke, in make test)
#   Fuzz/run.sh long [SECONDS] [TARGET...]   each target SECONDS (default 300) in a kept corpus (make fuzz);
#                                            FUZZ_RUNS=N stops a target sooner, after N executions
#   Fuzz/run.sh minimise [TARGET...]         merges the kept corpus into the committed one, Fuzz/corpus/<target>
# A run reports its executions (libFuzzer's "Done N runs"); a crash, hang (10 s), leak or allocation over
# 2 GB fails the script and keeps the input in .build-fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-smoke}
[ $# -gt 0 ] && shift
seconds=1
if [ "$mode" = long ]; then seconds=${1:-300}; [ $# -gt 0 ] && shift; fi
out=.build-fuzz
mkdir -p "$out"

# The project's modules instrumented, its dependencies built as usual (Package.swift, HAARFACE_FUZZ).
echo "fuzz: building haarface-fuzz"
HAARFACE_FUZZ=1 swift build -c release --build-path "$out/spm" --product haarface-fuzz 2>&1 \
    | grep -Ev "Cannot export local symbol|^\[[0-9]+/[0-9]+\]" || true
binary=$out/spm/release/haarface-fuzz
[ -x "$binary" ] || { echo "fuzz: build failed"; exit 1; }

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(recordio pickle npy torchpickle torchlegacy jpeg safetensors checkpoint pth onnx
                                    traininglog metrics yaml json study ijb)

# Seeds (Fuzz/seeds.py: small valid inputs of each format) for a target whose committed corpus is still empty.
seeds=$out/seeds
[ -d "$seeds" ] || /usr/bin/python3 Fuzz/seeds.py "$seeds"

export LSAN_OPTIONS=suppressions=$PWD/Fuzz/lsan-suppressions.txt
status=0
for target in "${targets[@]}"; do
    committed=Fuzz/corpus/$target
    kept=$out/corpus/$target
    artifacts=$out/artifacts/$target/
    mkdir -p "$committed" "$kept" "$artifacts"
    inputs=("$committed")
    [ -n "$(ls -A "$committed")" ] || inputs+=("$seeds/$target")
    case $mode in
        smoke) flags=(-max_total_time=1) ; corpora=("$kept" "${inputs[@]}") ;;
        long) flags=(-max_total_time="$seconds" -print_final_stats=1 ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"})
              corpora=("$kept" "${inputs[@]}") ;;
        minimise)
            rm -rf "$committed.new" && mkdir -p "$committed.new"
            FUZZ_TARGET=$target "$binary" -merge=1 -max_len=65536 "$committed.new" "$committed" "$kept" > "$out/$target.merge.log" 2>&1 \
                || { tail -20 "$out/$target.merge.log"; exit 1; }
            rm -rf "$committed" && mv "$committed.new" "$committed"
            echo "fuzz: $target corpus: $(ls "$committed" | wc -l) inputs, $(du -sh "$committed" | cut -f1)"
            continue ;;
        *) echo "usage: Fuzz/run.sh smoke | long [SECONDS] [TARGET...] | minimise [TARGET...]"; exit 2 ;;
    esac
    echo "fuzz: $target for ${seconds}s"
    if ! FUZZ_TARGET=$target "$binary" "${flags[@]}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
            -artifact_prefix="$artifacts" "${corpora[@]}" > "$out/$target.$mode.log" 2>&1; then
        tail -40 "$out/$target.$mode.log"
        echo "fuzz: $target FAILED (input saved under $artifacts)"
        status=1
        continue
    fi
    grep -E "^Done [0-9]+ runs" "$out/$target.$mode.log" | tail -1 | sed "s/^/fuzz: $target: /"
done
rm -f /dev/shm/haarface-fuzz-*
exit $status
