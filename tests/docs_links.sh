#!/usr/bin/env bash
# Every relative link in the documentation (README.md, bench/README.md, docs/*.md) must name a
# file or folder of the repository, and a link to page.md#anchor (or #anchor on the same page)
# a heading of that page, by GitHub's rule for anchors (lower case, punctuation dropped, spaces
# as hyphens). Links inside code blocks and to http(s) addresses are not checked.
# Usage: tests/docs_links.sh [repository root]; prints each broken link and exits 1 if any.
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"
export LC_ALL=C

# The anchors of a Markdown file's headings, one per line (outside code blocks).
anchors() {
    awk '/^```/ { fenced = !fenced; next } !fenced && /^#+ / { sub(/^#+ +/, ""); print }' "$1" |
        tr 'A-Z' 'a-z' | sed -e 's/[^a-z0-9 _-]//g' -e 's/ /-/g'
}

status=0
checked=0
for page in README.md bench/README.md docs/*.md; do
    [ -f "$page" ] || continue
    dir=$(dirname "$page")
    # Link targets outside code blocks and inline code: the part between "](" and ")".
    targets=$(awk '/^```/ { fenced = !fenced; next } !fenced { gsub(/`[^`]*`/, ""); print }' "$page" |
              grep -o '](\([^)]*\))' | sed -e 's/^](//' -e 's/)$//' || true)
    while IFS= read -r target; do
        [ -n "$target" ] || continue
        case "$target" in http://* | https://* | mailto:*) continue ;; esac
        checked=$((checked + 1))
        path="${target%%#*}"
        anchor=""
        [[ "$target" == *"#"* ]] && anchor="${target#*#}"
        if [ -z "$path" ]; then
            file="$page"
        else
            file="$dir/$path"
            if [ ! -e "$file" ]; then
                echo "$page: broken link ($target): $file does not exist"
                status=1
                continue
            fi
        fi
        if [ -n "$anchor" ] && ! anchors "$file" | grep -qxF "$anchor"; then
            echo "$page: broken link ($target): no heading of $file has the anchor #$anchor"
            status=1
        fi
    done <<< "$targets"
done
[ "$checked" -gt 0 ] || { echo "docs_links: no links found: wrong root?"; exit 2; }
[ $status -eq 0 ] && echo "docs_links: all $checked relative links resolve"
exit $status
