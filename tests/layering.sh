#!/usr/bin/env bash
# The levels of the code (docs/architecture.md, "The levels of the code") include only what lies below them:
#   framework/core     its own headers (and system ones): sizes, the parallel loops
#   framework/kernels  its own headers and framework/core (and system/third-party ones)
#   framework/         never layers/ or optim/
#   framework/io, framework/data, optim   never layers/ (they see tensors, not modules)
#   layers/            never optim/
# Reads every tracked or untracked source under the given root (default: the repository) and
# prints each include that breaks a rule; exits 1 if there is one.
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"
status=0
check() {  # check <folder> <forbidden include prefix regex> <why> [allowed prefix regex]
    local folder="$1" pattern="$2" why="$3" allowed="${4:-^$}" hits
    [ -d "$folder" ] || return 0
    hits=$(grep -rnE --include='*.hpp' --include='*.cpp' "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]($pattern)" "$folder" |
           grep -vE "include[[:space:]]*[\"<]($allowed)" || true)
    if [ -n "$hits" ]; then
        echo "$why:"
        echo "$hits"
        status=1
    fi
}
check framework/core 'framework/|layers/|optim/|tapegrad/' \
    "framework/core/ may include only framework/core/ (the level below everything)" 'framework/core/'
check framework/kernels 'framework/|layers/|optim/|tapegrad/' \
    "framework/kernels/ may include only framework/kernels/ and framework/core/ (floats and sizes, no tensors)" \
    'framework/kernels/|framework/core/'
check framework 'layers/|optim/|tapegrad/' "framework/ must not include layers/, optim/ or the umbrella"
for folder in framework/io framework/data optim; do
    check "$folder" 'layers/' "$folder sees tensors, not modules: no include of layers/"
done
check layers 'optim/' "layers/ must not include optim/"
[ $status -eq 0 ] && echo "layering: every include points down"
exit $status
