#!/usr/bin/env bash
# Holds the C and C++ files changed between BASE (default HEAD~1) and HEAD to .clang-format:
# prints each one clang-format would change, with the change as a diff, and exits 1 if there
# is one. Only changed files, whole: the tree comes to the format file by file, as it is touched.
#   bash tests/format_check.sh [BASE]     e.g. main, to check a branch's changes (BASE...HEAD)
# The files are read as committed at HEAD. Installs Debian's clang-format if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:-HEAD~1}"

# As run.sh's install_missing.
if ! command -v clang-format >/dev/null; then
    echo "format_check: installing clang-format"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends clang-format
fi
# .clang-format was chosen with Debian 12's clang-format 14; another version breaks some lines
# differently, so its verdict can differ.
version="$(clang-format --version)"
[[ "$version" =~ version\ 14\. ]] || echo "format_check: warning: $version, not 14 as .clang-format was set for"

if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
    echo "format_check: expected BASE to name a commit, but got '$base'" \
         "(HEAD~1 of the first commit, or a shallow clone?)" >&2
    exit 2
fi

# BASE...HEAD: what HEAD changed since it and BASE parted (with an ancestor BASE, BASE..HEAD).
# Deleted files are left out; the pathspecs are git's globs, which match in any folder.
mapfile -d '' files < <(git diff -z --name-only --diff-filter=d "$base...HEAD" -- \
    '*.c' '*.h' '*.cc' '*.cpp' '*.hpp' '*.inc')

bad=()
for f in "${files[@]}"; do
    # The committed text, formatted as if it were at its path (for the language and .clang-format).
    if ! d="$(diff -u --label "$f" --label "$f (clang-format)" <(git show "HEAD:$f") \
                   <(git show "HEAD:$f" | clang-format --style=file --assume-filename="$f"))"; then
        echo "$d"
        bad+=("$f")
    fi
done

if [ ${#bad[@]} -gt 0 ]; then
    echo "format_check: ${#bad[@]} of ${#files[@]} changed C/C++ files not formatted as .clang-format says:"
    printf '  %s\n' "${bad[@]}"
    echo "format_check: fix with: clang-format -i ${bad[*]}"
    exit 1
fi
echo "format_check: ${#files[@]} changed C/C++ files between $base and HEAD, all formatted"
