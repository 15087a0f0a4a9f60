#!/usr/bin/env bash
# Holds the lines of C and C++ that changed between BASE (default HEAD~1) and HEAD to
# .clang-format: prints each file in which clang-format would change one of those lines, with
# the change as a diff, and exits 1 if there is one. Only the changed lines (clang-format
# --lines, as git-clang-format does): the tree comes to the format as it is touched, and a
# change is never held to lines it did not write.
#   bash tests/format_check.sh [BASE]         e.g. main, to check a branch's changes (BASE...HEAD)
#   bash tests/format_check.sh --fix [BASE]   formats those lines in the working tree instead
# The files are read as committed at HEAD (with --fix, as they are in the working tree). And
# every line of every C/C++ file at HEAD is at most 120 columns.
# Installs Debian's clang-format if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
fix=false
if [ "${1:-}" = "--fix" ]; then fix=true; shift; fi
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

# The --lines=FIRST:LAST options of the lines HEAD has in f's hunks against BASE (git diff -U0:
# "@@ -a,b +c,d @@" is lines c..c+d-1, a missing d is 1, d = 0 a pure deletion).
changed_lines() {
    git diff -U0 "$base...HEAD" -- "$1" |
        awk '/^@@ / { split($3, p, ","); c = substr(p[1], 2) + 0; d = (2 in p) ? p[2] + 0 : 1;
                      if (d > 0) printf "--lines=%d:%d\n", c, c + d - 1 }'
}

bad=()
for f in "${files[@]}"; do
    mapfile -t lines < <(changed_lines "$f")
    [ ${#lines[@]} -gt 0 ] || continue
    if $fix; then
        clang-format -i --style=file "${lines[@]}" "$f"
        continue
    fi
    # The committed text, its changed lines formatted as if it were at its path.
    if ! d="$(diff -u --label "$f" --label "$f (clang-format)" <(git show "HEAD:$f") \
                   <(git show "HEAD:$f" | clang-format --style=file --assume-filename="$f" "${lines[@]}"))"; then
        echo "$d"
        bad+=("$f")
    fi
done
$fix && { echo "format_check: formatted the changed lines of ${#files[@]} files (see git diff)"; exit 0; }

# Every line of every C/C++ file at HEAD, changed or not, fits in .clang-format's 120 columns
# (counted in characters: C.UTF-8, so "σ²" is two).
mapfile -t long < <(LC_ALL=C.UTF-8 git grep -n -I -P '^.{121,}' HEAD -- '*.c' '*.h' '*.cc' '*.cpp' '*.hpp' '*.inc' \
                                  2>/dev/null | sed 's/^HEAD://' || true)
if [ ${#long[@]} -gt 0 ]; then
    echo "format_check: ${#long[@]} lines at HEAD are longer than 120 columns:"
    printf '  %s\n' "${long[@]}"
    bad+=("(lines over 120 columns)")
fi

if [ ${#bad[@]} -gt 0 ]; then
    echo "format_check: ${#bad[@]} of ${#files[@]} changed C/C++ files have changed lines not formatted as .clang-format says:"
    printf '  %s\n' "${bad[@]}"
    echo "format_check: fix with: bash tests/format_check.sh --fix $base"
    exit 1
fi
echo "format_check: ${#files[@]} changed C/C++ files between $base and HEAD, their changed lines all formatted"
