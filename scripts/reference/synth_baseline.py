#!/usr/bin/python3
"""Reference for the synthetic set's pixel baseline (Sources/FaceData/SynthBaseline.swift), written from
insightface's verification protocol (../shared/reference/insightface.md, "Evaluation"): pixels mapped to
(x/255 - 0.5)/0.5 and L2-normalised, squared L2 distance per pair, thresholds np.arange(0, 4, 0.01),
"same" when distance < threshold, 10 contiguous folds sized as scikit-learn's KFold(shuffle=False)
(the first n % 10 folds one larger), on each fold the first threshold of best accuracy on the other
9 folds, accuracy of the held-out fold; mean and population std.

Pinned: Debian python3-numpy 1.24. Writes Tests/FaceDataTests/Fixtures/synth_baseline.json:
65 pairs (uneven folds: 7 x 5, then 6 x 5) of random 4x4 RGB images, same pairs being noisy copies.
"""
import json
import os

import numpy as np

assert np.__version__.startswith("1.24"), np.__version__

rng = np.random.RandomState(20261129)
pairs, height, width = 65, 4, 4
images, same = [], []
for i in range(pairs):
    a = rng.randint(0, 256, size=(height, width, 3))
    is_same = bool(rng.rand() < 0.5)
    if is_same:
        b = np.clip(a + rng.randint(-230, 231, size=a.shape), 0, 255)
    else:
        b = rng.randint(0, 256, size=(height, width, 3))
    images += [a.astype(np.uint8), b.astype(np.uint8)]
    same.append(is_same)
same = np.array(same)

vectors = np.stack([(img.reshape(-1).astype(np.float64) / 255 - 0.5) / 0.5 for img in images])
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
distances = np.sum(np.square(vectors[0::2] - vectors[1::2]), axis=1)

thresholds = np.arange(0, 4, 0.01)
fold_sizes = np.full(10, pairs // 10)
fold_sizes[: pairs % 10] += 1
bounds = np.concatenate([[0], np.cumsum(fold_sizes)])


def accuracy(threshold, dist, actual):
    predicted = np.less(dist, threshold)
    return np.mean(predicted == actual)


fold_accuracies, chosen = [], []
for fold in range(10):
    test = np.arange(bounds[fold], bounds[fold + 1])
    train = np.setdiff1d(np.arange(pairs), test)
    train_acc = np.array([accuracy(t, distances[train], same[train]) for t in thresholds])
    best = int(np.argmax(train_acc))
    chosen.append(float(thresholds[best]))
    fold_accuracies.append(float(accuracy(thresholds[best], distances[test], same[test])))

out = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FaceDataTests", "Fixtures", "synth_baseline.json")
with open(out, "w") as f:
    json.dump({
        "size": [height, width],
        "images": [img.reshape(-1).tolist() for img in images],
        "same": same.tolist(),
        "distances": distances.tolist(),
        "thresholds": chosen,
        "fold_accuracies": fold_accuracies,
        "mean": float(np.mean(fold_accuracies)),
        "std": float(np.std(fold_accuracies)),
    }, f)
print("wrote", os.path.normpath(out), "mean %.5f std %.5f" % (np.mean(fold_accuracies), np.std(fold_accuracies)))
