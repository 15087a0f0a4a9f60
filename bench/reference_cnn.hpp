// The reference CNN the CNN benchmarks train (bench/torch_cnn.py builds the same in PyTorch):
// conv 1→32 3×3 pad 1, GroupNorm(8, 32), ReLU, maxpool 2; conv 32→64 3×3 pad 1,
// GroupNorm(16, 64), ReLU, maxpool 2; flatten; linear 3136→128, ReLU; linear 128→10.
#pragma once

#include <tapegrad/tapegrad.hpp>

inline tapegrad::Sequential reference_cnn() {
    namespace tg = tapegrad;
    tg::Sequential net;
    net.add(tg::Conv2d(1, 32, 3, 1, 1));
    net.add(tg::GroupNorm(8, 32));
    net.add(tg::ReLU());
    net.add(tg::MaxPool2d(2));
    net.add(tg::Conv2d(32, 64, 3, 1, 1));
    net.add(tg::GroupNorm(16, 64));
    net.add(tg::ReLU());
    net.add(tg::MaxPool2d(2));
    net.add(tg::Flatten());
    net.add(tg::Linear(64 * 7 * 7, 128));
    net.add(tg::ReLU());
    net.add(tg::Linear(128, 10));
    return net;
}
