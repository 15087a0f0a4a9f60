// Broadcast element-wise kernels and sum_to_shape; see broadcast.hpp. The index space is cut
// into one flat range per thread; a range's start is turned into dim counters once (the only
// divisions), then runs of the innermost dim are walked with counters and handed to a loop
// over contiguous memory: both inputs contiguous, or one of them a single value (stride 0).
#include "framework/kernels/broadcast.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "framework/core/parallel.hpp"
#include "framework/kernels/reductions.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

// --- the binary functions, each on a batch or a scalar ----------------------------------------

template <typename T>
T pick(bool c, T a, T b) {
    return c ? a : b;
}
template <typename T, typename A>
xsimd::batch<T, A> pick(const xsimd::batch_bool<T, A>& c, const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b) {
    return xsimd::select(c, a, b);
}

struct Add { static constexpr bool simd = true; template <typename V> static V f(V a, V b) { return a + b; } };
struct Sub { static constexpr bool simd = true; template <typename V> static V f(V a, V b) { return a - b; } };
struct Mul { static constexpr bool simd = true; template <typename V> static V f(V a, V b) { return a * b; } };
struct Div { static constexpr bool simd = true; template <typename V> static V f(V a, V b) { return a / b; } };
// std::pow per element: exact where PyTorch is (x^2 is x·x), and no batch pow of xsimd's own
// rounding to tell apart.
struct Pow {
    static constexpr bool simd = false;
    template <typename V>
    static V f(V a, V b) {
        return std::pow(a, b);
    }
};
// NaN on either side gives NaN, as torch.maximum (a hardware max returns its second operand).
struct Maximum {
    static constexpr bool simd = true;
    template <typename V> static V f(V a, V b) { return pick((a != a) | (a > b), a, b); }
};
struct Minimum {
    static constexpr bool simd = true;
    template <typename V> static V f(V a, V b) { return pick((a != a) | (a < b), a, b); }
};
struct Eq {
    static constexpr bool simd = true;
    template <typename V>
    static V f(V a, V b) {
        return pick(a == b, V(1), V(0));
    }
};
struct Ne {
    static constexpr bool simd = true;
    template <typename V>
    static V f(V a, V b) {
        return pick(a != b, V(1), V(0));
    }
};
struct Lt {
    static constexpr bool simd = true;
    template <typename V>
    static V f(V a, V b) {
        return pick(a < b, V(1), V(0));
    }
};
struct Le {
    static constexpr bool simd = true;
    template <typename V>
    static V f(V a, V b) {
        return pick(a <= b, V(1), V(0));
    }
};
struct Gt {
    static constexpr bool simd = true;
    template <typename V>
    static V f(V a, V b) {
        return pick(a > b, V(1), V(0));
    }
};
struct Ge {
    static constexpr bool simd = true;
    template <typename V>
    static V f(V a, V b) {
        return pick(a >= b, V(1), V(0));
    }
};
struct WhereTrue {
    static constexpr bool simd = true;
    template <typename V> static V f(V dy, V mask) { return pick(mask != V(0), dy, V(0)); }
};
struct WhereFalse {
    static constexpr bool simd = true;
    template <typename V> static V f(V dy, V mask) { return pick(mask != V(0), V(0), dy); }
};

template <typename F>
decltype(auto) with_binary(BinaryOp op, F&& f) {
    switch (op) {
        case BinaryOp::add: return f(Add{});
        case BinaryOp::sub: return f(Sub{});
        case BinaryOp::mul: return f(Mul{});
        case BinaryOp::div: return f(Div{});
        case BinaryOp::pow: return f(Pow{});
        case BinaryOp::maximum: return f(Maximum{});
        case BinaryOp::minimum: return f(Minimum{});
        case BinaryOp::eq: return f(Eq{});
        case BinaryOp::ne: return f(Ne{});
        case BinaryOp::lt: return f(Lt{});
        case BinaryOp::le: return f(Le{});
        case BinaryOp::gt: return f(Gt{});
        case BinaryOp::ge: return f(Ge{});
        case BinaryOp::where_true: return f(WhereTrue{});
        case BinaryOp::where_false: return f(WhereFalse{});
    }
    return f(Add{});
}

// --- walking a plan ----------------------------------------------------------------------------

// f(pos, offsets, len) for the runs of the innermost dim that make up the flat output range
// [begin, end): the output elements [pos, pos + len) read input k from offsets[k] on, with
// the innermost stride of input k.
template <typename F>
void for_each_run(const BroadcastPlan& p, int64_t begin, int64_t end, F&& f) {
    if (begin >= end) return;
    const int nd = static_cast<int>(p.sizes.size()), last = nd - 1;
    std::vector<int64_t> counter(static_cast<size_t>(nd));
    int64_t off[3] = {0, 0, 0};
    int64_t rest = begin;
    for (int d = last; d >= 0; --d) {
        counter[d] = rest % p.sizes[d];
        rest /= p.sizes[d];
        for (int k = 0; k < p.inputs; ++k) off[k] += counter[d] * p.strides[k][d];
    }
    int64_t pos = begin;
    while (true) {
        const int64_t len = std::min(p.sizes[last] - counter[last], end - pos);
        f(pos, static_cast<const int64_t*>(off), len);
        pos += len;
        if (pos >= end) return;
        // The run ended at the end of the innermost dim: carry into the outer counters.
        for (int k = 0; k < p.inputs; ++k) off[k] += len * p.strides[k][last];
        counter[last] += len;
        for (int d = last; d > 0 && counter[d] == p.sizes[d]; --d) {
            counter[d] = 0;
            ++counter[d - 1];
            for (int k = 0; k < p.inputs; ++k) off[k] += p.strides[k][d - 1] - p.sizes[d] * p.strides[k][d];
        }
    }
}

// The plan's flat output range split over the threads (whole cache lines each) when the
// element count pays for it.
template <typename F>
void for_plan_ranges(const BroadcastPlan& p, F&& f) {
    for_ranges(p.numel, worth_parallel(Work::elements, p.numel),
               [&](int64_t begin, int64_t end) { for_each_run(p, begin, end, f); });
}

template <bool Accumulate, typename T, typename B>
inline void put(T* o, const B& v) {
    if constexpr (Accumulate)
        (B::load_unaligned(o) + v).store_unaligned(o);
    else
        v.store_unaligned(o);
}
template <bool Accumulate, typename T>
inline void put_scalar(T* o, T v) {
    *o = Accumulate ? *o + v : v;
}

// One run: o[i] (+)= F(a[i·sa], b[i·sb]) with sa, sb in {0, 1}, in one of three SIMD forms.
template <typename Fn, bool Accumulate, typename T>
void binary_run(T* o, const T* a, const T* b, int64_t n, int64_t sa, int64_t sb) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    int64_t i = 0;
    if (sa != 0 && sb != 0) {
        if constexpr (Fn::simd)
            for (; i + lanes <= n; i += lanes)
                put<Accumulate>(o + i, Fn::f(B::load_unaligned(a + i), B::load_unaligned(b + i)));
        for (; i < n; ++i) put_scalar<Accumulate>(o + i, Fn::f(a[i], b[i]));
    } else if (sa != 0) {
        const T bs = *b;
        if constexpr (Fn::simd) {
            const B bv(bs);
            for (; i + lanes <= n; i += lanes) put<Accumulate>(o + i, Fn::f(B::load_unaligned(a + i), bv));
        }
        for (; i < n; ++i) put_scalar<Accumulate>(o + i, Fn::f(a[i], bs));
    } else if (sb != 0) {
        const T as = *a;
        if constexpr (Fn::simd) {
            const B av(as);
            for (; i + lanes <= n; i += lanes) put<Accumulate>(o + i, Fn::f(av, B::load_unaligned(b + i)));
        }
        for (; i < n; ++i) put_scalar<Accumulate>(o + i, Fn::f(as, b[i]));
    } else {
        const T v = Fn::f(*a, *b);
        for (; i < n; ++i) put_scalar<Accumulate>(o + i, v);
    }
}

// The gradient terms of one binary op at one element: g·∂f/∂a and g·∂f/∂b. Op is a template
// argument, so that the kernel chooses once per call, not per element.
template <BinaryOp Op, typename T>
inline void binary_derivatives(T g, T a, T b, T& da, T& db) {
    if constexpr (Op == BinaryOp::add) {
        da = g;
        db = g;
    } else if constexpr (Op == BinaryOp::sub) {
        da = g;
        db = -g;
    } else if constexpr (Op == BinaryOp::mul) {
        da = g * b;
        db = g * a;
    } else if constexpr (Op == BinaryOp::div) {
        // ∂(a/b)/∂b = −a/b², as PyTorch writes it: −g·a/(b·b).
        da = g / b;
        db = -g * a / (b * b);
    } else if constexpr (Op == BinaryOp::pow) {
        // ∂(a^b)/∂a = b·a^(b−1), 0 where b = 0 (also at a = 0); ∂(a^b)/∂b = a^b·ln a, 0 where
        // a = 0 and b >= 0 (PyTorch's pow_backward_self and pow_backward_exponent).
        da = b == T(0) ? T(0) : g * (b * std::pow(a, b - T(1)));
        db = a == T(0) && b >= T(0) ? T(0) : g * (std::pow(a, b) * std::log(a));
    } else if constexpr (Op == BinaryOp::maximum) {
        // Ties split the gradient in halves, as torch 1.13 does (where(a == b, g/2, g), then
        // zero where the other side wins).
        da = a == b ? g / T(2) : (a < b ? T(0) : g);
        db = a == b ? g / T(2) : (a > b ? T(0) : g);
    } else {
        static_assert(Op == BinaryOp::minimum, "no derivatives for this op");
        da = a == b ? g / T(2) : (a > b ? T(0) : g);
        db = a == b ? g / T(2) : (a < b ? T(0) : g);
    }
}

// da[i], db[i] over a run: dy contiguous, a and b with strides sa, sb in {0, 1}.
template <BinaryOp Op, typename T>
void derivative_run(T* da, T* db, const T* dy, const T* a, const T* b, int64_t n, int64_t sa, int64_t sb) {
    for (int64_t i = 0; i < n; ++i, a += sa, b += sb) {
        T ga, gb;
        binary_derivatives<Op>(dy[i], *a, *b, ga, gb);
        if (da != nullptr) da[i] = ga;
        if (db != nullptr) db[i] = gb;
    }
}

// Each output's sum, taken over pieces of at most kChunk elements of each run in order.
template <typename T>
double piece_sum(const T* x, const T* y, int64_t n) {
    if (y == nullptr) return sum(x, n);
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;
    DoubleBatch a0(0.0), a1(0.0);
    int64_t i = 0;
    for (; i + 2 * kDoubleLanes <= n; i += 2 * kDoubleLanes) {
        a0 = xsimd::fma(widen(x + i), widen(y + i), a0);
        a1 = xsimd::fma(widen(x + i + kDoubleLanes), widen(y + i + kDoubleLanes), a1);
    }
    for (; i + kDoubleLanes <= n; i += kDoubleLanes) a0 = xsimd::fma(widen(x + i), widen(y + i), a0);
    double s = xsimd::hadd(a0 + a1);
    for (; i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(y[i]);
    return s;
}

// acc[j] += x[j] (· y[j]) for j in [0, n), in double.
template <typename T>
void add_row(double* acc, const T* x, const T* y, int64_t n) {
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;
    int64_t j = 0;
    if (y == nullptr) {
        for (; j + kDoubleLanes <= n; j += kDoubleLanes)
            (DoubleBatch::load_unaligned(acc + j) + widen(x + j)).store_unaligned(acc + j);
        for (; j < n; ++j) acc[j] += static_cast<double>(x[j]);
    } else {
        for (; j + kDoubleLanes <= n; j += kDoubleLanes)
            xsimd::fma(widen(x + j), widen(y + j), DoubleBatch::load_unaligned(acc + j)).store_unaligned(acc + j);
        for (; j < n; ++j) acc[j] += static_cast<double>(x[j]) * static_cast<double>(y[j]);
    }
}

// o[i] (+)= s · x[i] (· y[i]).
template <typename T>
void scaled_copy(T* o, const T* x, const T* y, int64_t n, T s, bool accumulate) {
    if (y == nullptr && s == T(1) && !accumulate) {
        std::copy(x, x + n, o);
        return;
    }
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    const B sb(s);
    int64_t i = 0;
    if (y == nullptr && accumulate)
        for (; i + lanes <= n; i += lanes)
            (B::load_unaligned(o + i) + B::load_unaligned(x + i) * sb).store_unaligned(o + i);
    else if (y == nullptr)
        for (; i + lanes <= n; i += lanes) (B::load_unaligned(x + i) * sb).store_unaligned(o + i);
    else if (accumulate)
        for (; i + lanes <= n; i += lanes)
            (B::load_unaligned(o + i) + B::load_unaligned(x + i) * B::load_unaligned(y + i) * sb)
                .store_unaligned(o + i);
    else
        for (; i + lanes <= n; i += lanes)
            (B::load_unaligned(x + i) * B::load_unaligned(y + i) * sb).store_unaligned(o + i);
    for (; i < n; ++i) {
        const T v = (y == nullptr ? x[i] : x[i] * y[i]) * s;
        o[i] = accumulate ? o[i] + v : v;
    }
}

// A multi-index over some dims (outermost first) with the offset it gives in elements:
// start() places it (divisions, once), next() steps it in amortised constant time.
struct Odometer {
    std::vector<int64_t> sizes, strides, counter;
    int64_t offset = 0;
    void add(int64_t size, int64_t stride) {
        sizes.push_back(size);
        strides.push_back(stride);
    }
    int64_t count() const {
        int64_t c = 1;
        for (int64_t s : sizes) c *= s;
        return c;
    }
    void start(int64_t flat) {
        counter.assign(sizes.size(), 0);
        offset = 0;
        for (size_t d = sizes.size(); d-- > 0;) {
            counter[d] = flat % sizes[d];
            flat /= sizes[d];
            offset += counter[d] * strides[d];
        }
    }
    void next() {
        for (size_t d = sizes.size(); d-- > 0;) {
            offset += strides[d];
            if (++counter[d] < sizes[d]) return;
            offset -= sizes[d] * strides[d];
            counter[d] = 0;
        }
    }
};

// Columns of a kept innermost dim summed per task: a row of doubles that stays in L1.
constexpr int64_t kColumns = 2048;

}  // namespace

BroadcastPlan plan_broadcast(std::span<const int64_t> out, std::span<const std::span<const int64_t>> inputs) {
    BroadcastPlan p;
    p.inputs = static_cast<int>(inputs.size());
    const size_t r = out.size();
    p.numel = 1;
    for (int64_t e : out) p.numel *= e;
    std::vector<int64_t> full[3];
    for (int k = 0; k < p.inputs; ++k) {
        const std::span<const int64_t> in = inputs[static_cast<size_t>(k)];
        const size_t lead = r - in.size();
        full[k].assign(r, 0);
        int64_t stride = 1;
        for (size_t d = r; d-- > 0;) {
            const int64_t e = d >= lead ? in[d - lead] : 1;
            full[k][d] = e == 1 ? 0 : stride;
            stride *= e;
        }
    }
    // Innermost first: drop size-1 dims; merge a dim into the one inside it when every input
    // steps across the pair as one dim (stride outer = stride inner · size inner, which holds
    // for contiguous and for stretched alike).
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides[3];
    for (size_t d = r; d-- > 0;) {
        if (out[d] == 1) continue;
        bool merge = !sizes.empty();
        for (int k = 0; merge && k < p.inputs; ++k) merge = full[k][d] == strides[k].back() * sizes.back();
        if (merge) {
            sizes.back() *= out[d];
        } else {
            sizes.push_back(out[d]);
            for (int k = 0; k < p.inputs; ++k) strides[k].push_back(full[k][d]);
        }
    }
    if (sizes.empty()) {
        sizes.push_back(1);
        for (int k = 0; k < p.inputs; ++k) strides[k].push_back(0);
    }
    p.sizes.assign(sizes.rbegin(), sizes.rend());
    for (int k = 0; k < p.inputs; ++k) p.strides[k].assign(strides[k].rbegin(), strides[k].rend());
    return p;
}

template <typename T>
void binary_forward(T* out, const T* a, const T* b, const BroadcastPlan& plan, BinaryOp op, bool accumulate) {
    if (plan.numel == 0) return;
    const int64_t sa = plan.strides[0].back(), sb = plan.strides[1].back();
    with_binary(op, [&](auto fn) {
        using Fn = decltype(fn);
        for_plan_ranges(plan, [&](int64_t pos, const int64_t* off, int64_t len) {
            if (accumulate)
                binary_run<Fn, true>(out + pos, a + off[0], b + off[1], len, sa, sb);
            else
                binary_run<Fn, false>(out + pos, a + off[0], b + off[1], len, sa, sb);
        });
    });
}

template <typename T>
void binary_backward_terms(T* da, T* db, const T* dy, const T* a, const T* b, const BroadcastPlan& plan, BinaryOp op) {
    if (plan.numel == 0) return;
    const int64_t sa = plan.strides[0].back(), sb = plan.strides[1].back();
    auto run = [&](auto op_constant) {
        constexpr BinaryOp Op = decltype(op_constant)::value;
        for_plan_ranges(plan, [&](int64_t pos, const int64_t* off, int64_t len) {
            derivative_run<Op>(da == nullptr ? nullptr : da + pos, db == nullptr ? nullptr : db + pos, dy + pos,
                               a + off[0], b + off[1], len, sa, sb);
        });
    };
    switch (op) {
        case BinaryOp::add: return run(std::integral_constant<BinaryOp, BinaryOp::add>{});
        case BinaryOp::sub: return run(std::integral_constant<BinaryOp, BinaryOp::sub>{});
        case BinaryOp::mul: return run(std::integral_constant<BinaryOp, BinaryOp::mul>{});
        case BinaryOp::div: return run(std::integral_constant<BinaryOp, BinaryOp::div>{});
        case BinaryOp::pow: return run(std::integral_constant<BinaryOp, BinaryOp::pow>{});
        case BinaryOp::maximum: return run(std::integral_constant<BinaryOp, BinaryOp::maximum>{});
        case BinaryOp::minimum: return run(std::integral_constant<BinaryOp, BinaryOp::minimum>{});
        default: throw std::logic_error("binary_backward_terms: no derivatives for a comparison or where");
    }
}

template <typename T>
void where_forward(T* out, const T* mask, const T* a, const T* b, const BroadcastPlan& plan) {
    if (plan.numel == 0) return;
    const int64_t sm = plan.strides[0].back(), sa = plan.strides[1].back(), sb = plan.strides[2].back();
    for_plan_ranges(plan, [&](int64_t pos, const int64_t* off, int64_t len) {
        const T* pm = mask + off[0];
        const T* pa = a + off[1];
        const T* pb = b + off[2];
        T* o = out + pos;
        for (int64_t i = 0; i < len; ++i, pm += sm, pa += sa, pb += sb) o[i] = *pm != T(0) ? *pa : *pb;
    });
}

template <typename T>
void sum_to_shape(T* out, const T* x, const T* y, std::span<const int64_t> in_shape, std::span<const int64_t> out_shape,
                  double scale, bool accumulate) {
    int64_t out_numel = 1, in_numel = 1;
    for (int64_t e : out_shape) out_numel *= e;
    for (int64_t e : in_shape) in_numel *= e;
    if (out_numel == 0) return;
    auto store = [&](int64_t i, double v) { out[i] = accumulate ? out[i] + static_cast<T>(v) : static_cast<T>(v); };
    if (in_numel == 0) {
        if (!accumulate) std::fill(out, out + out_numel, T(0));
        return;
    }
    // Coalesce into alternating kept and reduced dims, outermost first.
    struct Dim {
        int64_t size;
        bool reduced;
    };
    std::vector<Dim> dims;
    const size_t lead = in_shape.size() - out_shape.size();
    for (size_t d = 0; d < in_shape.size(); ++d) {
        if (in_shape[d] == 1) continue;
        const bool reduced = d < lead || out_shape[d - lead] == 1;
        if (!dims.empty() && dims.back().reduced == reduced)
            dims.back().size *= in_shape[d];
        else
            dims.push_back({in_shape[d], reduced});
    }
    const bool any_reduced = std::any_of(dims.begin(), dims.end(), [](const Dim& d) { return d.reduced; });
    if (!any_reduced) {
        // Nothing to sum: a copy, or a product, times scale (±1 in the ops, so T is exact:
        // a float product rounded once, as in double then rounded).
        for_ranges(in_numel, worth_parallel(Work::elements, in_numel), [&](int64_t begin, int64_t end) {
            scaled_copy(out + begin, x + begin, y == nullptr ? nullptr : y + begin, end - begin, static_cast<T>(scale),
                        accumulate);
        });
        return;
    }
    std::vector<int64_t> in_stride(dims.size());
    for (size_t d = dims.size(), s = 1; d-- > 0;) {
        in_stride[d] = static_cast<int64_t>(s);
        s *= static_cast<size_t>(dims[d].size);
    }
    const int64_t inner = dims.back().size;
    const bool parallel = worth_parallel(Work::elements, in_numel);
    if (dims.back().reduced) {
        // (..., kept, reduced L): each output is a sum of runs of L, over the outer reduced dims.
        Odometer kept, runs;
        for (size_t d = 0; d + 1 < dims.size(); ++d) (dims[d].reduced ? runs : kept).add(dims[d].size, in_stride[d]);
        const int64_t pieces = (inner + kChunk - 1) / kChunk, run_count = runs.count();
        auto piece = [&](int64_t base, int64_t q) {
            const int64_t begin = (q % pieces) * kChunk;
            Odometer r = runs;
            r.start(q / pieces);
            const int64_t at = base + r.offset + begin;
            return piece_sum(x + at, y == nullptr ? nullptr : y + at, std::min(kChunk, inner - begin));
        };
        if (out_numel >= 2 * omp_get_max_threads() || !parallel) {
            for_thread_ranges(out_numel, parallel, [&](int64_t begin, int64_t end) {
                if (begin >= end) return;
                Odometer k = kept, r = runs;
                k.start(begin);
                for (int64_t m = begin; m < end; ++m, k.next()) {
                    double total = 0.0;
                    r.start(0);
                    for (int64_t j = 0; j < run_count; ++j, r.next())
                        for (int64_t b = 0; b < inner; b += kChunk) {
                            const int64_t at = k.offset + r.offset + b;
                            total += piece_sum(x + at, y == nullptr ? nullptr : y + at, std::min(kChunk, inner - b));
                        }
                    store(m, scale * total);
                }
            }, [] {});
        } else {
            // Few outputs: the pieces of each shared by the threads, added in order.
            Odometer k = kept;
            k.start(0);
            for (int64_t m = 0; m < out_numel; ++m, k.next()) {
                const int64_t base = k.offset;
                store(m, scale *
                             sum_in_order<double>(run_count * pieces, true, [&](int64_t q) { return piece(base, q); }));
            }
        }
        return;
    }
    // (..., reduced, kept L): each output row of L is a sum of input rows; tasks are (row,
    // block of kColumns columns), each summing its block over all runs into doubles.
    Odometer rows, runs;
    for (size_t d = 0; d + 1 < dims.size(); ++d) (dims[d].reduced ? runs : rows).add(dims[d].size, in_stride[d]);
    const int64_t blocks = (inner + kColumns - 1) / kColumns, row_count = rows.count(), run_count = runs.count();
    const int64_t tasks = row_count * blocks;
    for_thread_ranges(tasks, parallel && tasks > 1, [&](int64_t begin, int64_t end) {
        if (begin >= end) return;
        std::vector<double> acc(static_cast<size_t>(std::min(inner, kColumns)));
        Odometer row = rows, r = runs;
        for (int64_t t = begin; t < end; ++t) {
            const int64_t row_index = t / blocks, c0 = (t % blocks) * kColumns, width = std::min(kColumns, inner - c0);
            row.start(row_index);
            std::fill(acc.begin(), acc.begin() + width, 0.0);
            r.start(0);
            for (int64_t j = 0; j < run_count; ++j, r.next()) {
                const int64_t at = row.offset + r.offset + c0;
                add_row(acc.data(), x + at, y == nullptr ? nullptr : y + at, width);
            }
            T* o = out + row_index * inner + c0;
            if (accumulate)
                for (int64_t c = 0; c < width; ++c) o[c] += static_cast<T>(scale * acc[static_cast<size_t>(c)]);
            else
                for (int64_t c = 0; c < width; ++c) o[c] = static_cast<T>(scale * acc[static_cast<size_t>(c)]);
        }
    }, [] {});
}

template <typename T>
void binary_forward_reference(T* out, const T* a, const T* b, std::span<const int64_t> out_shape,
                              std::span<const int64_t> a_shape, std::span<const int64_t> b_shape, BinaryOp op) {
    int64_t n = 1;
    for (int64_t e : out_shape) n *= e;
    const size_t r = out_shape.size();
    for (int64_t i = 0; i < n; ++i) {
        // The multi-index of i, and the element of each input it reads (index 0 where stretched).
        int64_t rest = i, ia = 0, ib = 0, sa = 1, sb = 1;
        for (size_t d = r; d-- > 0;) {
            const int64_t c = rest % out_shape[d];
            rest /= out_shape[d];
            const int64_t ea = d + a_shape.size() >= r ? a_shape[d + a_shape.size() - r] : 1;
            const int64_t eb = d + b_shape.size() >= r ? b_shape[d + b_shape.size() - r] : 1;
            if (ea != 1) ia += c * sa;
            if (eb != 1) ib += c * sb;
            sa *= ea;
            sb *= eb;
        }
        with_binary(op, [&](auto fn) { out[i] = decltype(fn)::f(a[ia], b[ib]); });
    }
}

template <typename T>
void sum_to_shape_reference(T* out, const T* x, std::span<const int64_t> in_shape, std::span<const int64_t> out_shape) {
    int64_t n = 1, m = 1;
    for (int64_t e : in_shape) n *= e;
    for (int64_t e : out_shape) m *= e;
    std::vector<double> acc(static_cast<size_t>(m), 0.0);
    const size_t r = in_shape.size();
    for (int64_t i = 0; i < n; ++i) {
        int64_t rest = i, io = 0, so = 1;
        for (size_t d = r; d-- > 0;) {
            const int64_t c = rest % in_shape[d];
            rest /= in_shape[d];
            const int64_t e = d + out_shape.size() >= r ? out_shape[d + out_shape.size() - r] : 1;
            if (e != 1) io += c * so;
            so *= e;
        }
        acc[static_cast<size_t>(io)] += static_cast<double>(x[i]);
    }
    for (int64_t j = 0; j < m; ++j) out[j] = static_cast<T>(acc[static_cast<size_t>(j)]);
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                       \
    template void binary_forward<T>(T*, const T*, const T*, const BroadcastPlan&, BinaryOp, bool);                    \
    template void binary_backward_terms<T>(T*, T*, const T*, const T*, const T*, const BroadcastPlan&, BinaryOp);     \
    template void where_forward<T>(T*, const T*, const T*, const T*, const BroadcastPlan&);                           \
    template void sum_to_shape<T>(T*, const T*, const T*, std::span<const int64_t>, std::span<const int64_t>, double, \
                                  bool);                                                                              \
    template void binary_forward_reference<T>(T*, const T*, const T*, std::span<const int64_t>,                       \
                                              std::span<const int64_t>, std::span<const int64_t>, BinaryOp);          \
    template void sum_to_shape_reference<T>(T*, const T*, std::span<const int64_t>, std::span<const int64_t>);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
