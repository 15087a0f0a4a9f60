#!/usr/bin/env bash
# no_stack_vectors.sh OBJECT_OR_ARCHIVE...: lists the vector loads and stores that go through
# the stack inside tapegrad's hot loops, and exits 1 when there is any (docs/testing.md). Such a round
# trip costs what the CPU's store forwarding makes of it: on a Sapphire Rapids Xeon, xsimd 8.1's
# batch<double>::load_unaligned(const float*) stored two 256-bit halves and read them back as
# one 512-bit load, which Intel cores cannot forward (GroupNorm ran 3× slower); other CPUs and
# tunings hid it. Each finding is printed as `object: function: address: instruction`.
#
# What it checks, in `objdump -d -C -r` of each file (an archive is read member by member):
# - functions of the library: the demangled name (not the return type) starts with tapegrad::,
#   or it is a std::function invoker of a tapegrad lambda (where a backward closure's loops
#   are); tapegrad::io_detail:: (file reading) and *_reference* (the scalar twins the tests
#   compare against) are left out;
# - hot loops: natural loops of the control-flow graph (an edge to a block that dominates its
#   source; a backward jump alone is not a loop, GCC places out-of-line blocks that jump back)
#   that contain no other loop and no call (a loop that calls out is not where the time goes;
#   the callee's own loops are checked where the callee is), whether or not they run often;
# - in them, instructions with a stack operand ((%rsp), or (%rbp) in functions that set up a
#   frame pointer) that move a vector: any %ymm/%zmm operand, or a packed %xmm access (a whole
#   vector or half of one). Scalar moves and broadcasts of one element are not vector traffic.
# Limits: loops are found from direct jumps only (a loop entered through a jump table still
# counts, one formed by indirect jumps does not); irreducible loops are not analysed; stack
# addressed through another register (after a lea) is not seen; and code the compiler left
# under another name (an xt:: or std:: function it did not inline) is not in scope.
# Exit status: 0 none found, 1 findings, 2 the check could not run (objdump failed, or a file
# holds no function of the library: a wrong file or lost demangling must not pass silently).
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: no_stack_vectors.sh OBJECT_OR_ARCHIVE..." >&2
    exit 2
fi

# Plain awk (Debian's mawk): no strtonum or gensub, so addresses stay strings and are only
# compared through the instruction index they map to.
read -r -d '' program <<'AWK' || true
function reset() { delete A; delete I; delete M; delete OPS; delete at; delete reloc
    delete tgt; delete stop; delete leader; delete blk; delete bstart; delete bend; delete calls
    delete nsucc; delete S; delete npred; delete P; delete post; delete order; delete idom
    delete header; delete inbody; delete nbody; delete B; delete hot; n = 0 }

# The function's own qualified name: what follows the return type, up to its parameter list.
function function_name(sig,   i, c, depth, start, len) {
    depth = 0; start = 1; len = length(sig)
    for (i = 1; i <= len; i++) {
        c = substr(sig, i, 1)
        if (substr(sig, i, 21) == "(anonymous namespace)") { i += 20; continue }
        if (c == "(" && depth == 0) break
        if (c == "<" || c == "(" || c == "[" || c == "{") depth++
        else if ((c == ">" || c == ")" || c == "]" || c == "}") && depth > 0) depth--
        else if (c == " " && depth == 0 && substr(sig, i - 8, 8) != "operator") start = i + 1
    }
    return substr(sig, start, i - start)
}

function in_scope(name) {
    if (name ~ /_reference/ || name ~ /tapegrad::io_detail::/) return 0
    if (name ~ /^tapegrad::/) return 1
    return name ~ /^std::_Function_handler</ && name ~ /tapegrad::/
}

function finish_function() {
    if (active && n > 0) analyse()
    active = 0
    reset()
}

function add_edge(a, b) { S[a, ++nsucc[a]] = b; P[b, ++npred[b]] = a }

function intersect(a, b) {
    while (a != b) {
        while (post[a] < post[b]) a = idom[a]
        while (post[b] < post[a]) b = idom[b]
    }
    return a
}

function dominates(h, b) {
    while (1) {
        if (b == h) return 1
        if (b == 0) return 0
        b = idom[b]
    }
}

# A vector moved through the stack (see the header for which instructions count).
function stack_vector(m, ops) {
    if (ops !~ /\(%rsp[,)]/ && !(frame_pointer && ops ~ /\(%rbp[,)]/)) return 0
    if (ops ~ /\{1to[0-9]+\}/) return 0
    if (ops ~ /%[yz]mm/) return m !~ /^vp?broadcast(ss|sd|[bwdq])$/
    if (ops !~ /%xmm/) return 0
    if (m ~ /^v?(insertps|extractps)$/ || m ~ /^v?p(insr|extr|broadcast)/) return 0
    return m ~ /^v?movdq[au]/ || m ~ /p[sd]$/ || m ~ /^v?p/
}

function callee(i,   s) {
    if (i in reloc) return reloc[i]
    s = OPS[i]; sub(/^[^<]*</, "", s); return s
}

function analyse(   i, b, k, last, nb, sp, v, u, w, new, changed, p, h, x, j, top, work, seen, inner, free) {
    frame_pointer = 0
    for (i = 1; i <= n; i++) {
        if (M[i] == "mov" && OPS[i] == "%rsp,%rbp") frame_pointer = 1
        # A jump with a relocation leaves the function (a tail call, or a .cold part).
        if (M[i] ~ /^(j|loop|xbegin)/ && !(i in reloc)) { split(OPS[i], w, " "); if (w[1] in at) tgt[i] = at[w[1]] }
        if (M[i] ~ /^(ret|ud2|hlt)/ || (M[i] ~ /^call/ && callee(i) ~ noreturn)) stop[i] = 1
    }

    # Basic blocks: a block starts at a jump target and after a jump or a call that returns not.
    leader[1] = 1
    for (i = 1; i <= n; i++) {
        if (i in tgt) leader[tgt[i]] = 1
        if (i < n && (M[i] ~ /^(j|loop|xbegin)/ || (i in stop))) leader[i + 1] = 1
    }
    nb = 0
    for (i = 1; i <= n; i++) {
        if (i in leader) { bstart[++nb] = i }
        blk[i] = nb; bend[nb] = i
        if (M[i] ~ /^call/) calls[nb] = 1
    }
    for (b = 1; b <= nb; b++) {
        last = bend[b]
        if (last in tgt) add_edge(b, blk[tgt[last]])
        if (b < nb && !(last in stop) && M[last] !~ /^jmp/) add_edge(b, b + 1)
    }
    # Block 0 enters the function and every block nothing jumps to (landing pads, jump-table
    # targets), so that their loops are analysed too.
    add_edge(0, 1)
    for (b = 2; b <= nb; b++) if (!(b in npred)) add_edge(0, b)

    # Postorder by an iterative depth-first search, then dominators (Cooper, Harvey, Kennedy).
    k = 0; sp = 1; work[1] = 0; top[1] = 0; seen[0] = 1
    while (sp > 0) {
        v = work[sp]
        if (top[sp] < nsucc[v]) {
            u = S[v, ++top[sp]]
            if (!(u in seen)) { seen[u] = 1; work[++sp] = u; top[sp] = 0 }
        } else { post[v] = ++k; order[k] = v; sp-- }
    }
    idom[0] = 0
    changed = 1
    while (changed) {
        changed = 0
        for (j = k - 1; j >= 1; j--) {
            b = order[j]; new = -1
            for (i = 1; i <= npred[b]; i++) {
                p = P[b, i]
                if (!(p in idom)) continue
                new = new == -1 ? p : intersect(p, new)
            }
            if (!(b in idom) || idom[b] != new) { idom[b] = new; changed = 1 }
        }
    }

    # Natural loops: an edge b -> h where h dominates b; the body is what reaches b without h.
    for (b = 1; b <= nb; b++) {
        if (!(b in post)) continue
        for (i = 1; i <= nsucc[b]; i++) {
            h = S[b, i]
            if (post[h] < post[b] || !dominates(h, b)) continue
            if (!(h in header)) { header[h] = 1; inbody[h, h] = 1; B[h, ++nbody[h]] = h }
            if ((h, b) in inbody) continue
            inbody[h, b] = 1; B[h, ++nbody[h]] = b
            sp = 1; work[1] = b
            while (sp > 0) {
                x = work[sp--]
                for (j = 1; j <= npred[x]; j++) {
                    p = P[x, j]
                    if (!(p in post) || (h, p) in inbody) continue
                    inbody[h, p] = 1; B[h, ++nbody[h]] = p; work[++sp] = p
                }
            }
        }
    }

    for (h in header) {
        inner = 1; free = 1
        for (j = 1; j <= nbody[h]; j++) {
            x = B[h, j]
            if (x != h && (x in header)) inner = 0
            if (x in calls) free = 0
        }
        if (!inner || !free) continue
        hot_loops++
        for (j = 1; j <= nbody[h]; j++) hot[B[h, j]] = 1
    }
    for (b = 1; b <= nb; b++) {
        if (!(b in hot)) continue
        for (i = bstart[b]; i <= bend[b]; i++)
            if (stack_vector(M[i], OPS[i])) {
                printf "%s: %s: %s: %s\n", label, sig, A[i], I[i]
                findings++
            }
    }
}

BEGIN {
    noreturn = "__throw_|__cxa_throw|__cxa_rethrow|__cxa_bad_|_Unwind_Resume|__stack_chk_fail|std::terminate|__assert_fail|^(abort|exit|_exit)([-@(]|$)"
    label = obj; functions = 0; scoped = 0; hot_loops = 0; findings = 0; reset()
}

/^In archive / { archive = 1; next }
/^[0-9a-f]+ <.*>:$/ {
    finish_function()
    functions++
    sig = substr($0, index($0, "<") + 1); sub(/>:$/, "", sig)
    active = in_scope(function_name(sig))
    if (active) scoped++
    next
}
/^[^ \t].*:[ \t]+file format / {
    finish_function()
    if (archive) { m = $0; sub(/:[ \t]+file format .*/, "", m); label = obj "(" m ")" }
    next
}
/^Disassembly of section / { finish_function(); next }
/^[ \t]+[0-9a-f]+: R_/ {
    if (active && n > 0) { k = split($0, f, "\t"); reloc[n] = f[k] }
    next
}
/^ *[0-9a-f]+:\t/ {
    if (!active) next
    tab = index($0, "\t"); a = substr($0, 1, tab - 1); gsub(/[ :]/, "", a)
    text = substr($0, tab + 1); sub(/[ \t]+#.*/, "", text)
    n++; A[n] = a; I[n] = text; at[a] = n
    k = split(text, w, /[ \t]+/)
    for (j = 1; j < k && w[j] ~ /^(lock|rep|repz|repe|repnz|repne|notrack|bnd|data16|addr32|[c-gs]s|\{[a-z0-9]+\})$/; j++) ;
    M[n] = w[j]; ops = w[j + 1]; for (j += 2; j <= k; j++) ops = ops " " w[j]
    OPS[n] = ops
    next
}
END {
    finish_function()
    if (functions == 0) { printf "%s: objdump found no functions\n", obj > "/dev/stderr"; exit 2 }
    if (scoped == 0) { printf "%s: no tapegrad:: function among its %d\n", obj, functions > "/dev/stderr"; exit 2 }
    printf "%s: %d tapegrad functions, %d hot loops checked, %d findings\n", obj, scoped, hot_loops, findings
    exit findings > 0 ? 1 : 0
}
AWK

listing=$(mktemp)
trap 'rm -f "$listing"' EXIT
status=0
for obj in "$@"; do
    if ! objdump -d --no-show-raw-insn -C -r "$obj" > "$listing"; then
        echo "$obj: objdump failed" >&2
        exit 2
    fi
    rc=0
    awk -v obj="$obj" "$program" "$listing" || rc=$?
    case $rc in
        0) ;;
        1) status=1 ;;
        *) exit 2 ;;
    esac
done
exit $status
