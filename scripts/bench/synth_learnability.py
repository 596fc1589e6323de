#!/usr/bin/python3
"""Is a synthetic set learnable beyond its pixel baseline? Fits PCA + LDA (linear, no deep learning) on the
training identities of a `haarface synth` folder-format output and scores the held-out pairs with the
same 10-fold best-threshold protocol as the pixel baseline (SynthBaseline.swift). Debian python3-numpy
1.24 and python3-pil; minutes at 32x32 for 6000 training images (figures: docs/synthetic-identities.md).

  synth_learnability.py DIR     DIR written by: haarface synth --format folder ... --output DIR
"""
import os
import sys

import numpy as np
from PIL import Image


def load(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64).reshape(-1) / 127.5 - 1


def ten_fold_accuracy(embeddings, same):
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    dist = np.sum((e[0::2] - e[1::2]) ** 2, axis=1)
    thresholds = np.arange(0, 4, 0.01)
    n = len(dist)
    sizes = np.full(10, n // 10)
    sizes[: n % 10] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    accuracies = []
    for fold in range(10):
        test = np.arange(bounds[fold], bounds[fold + 1])
        train = np.setdiff1d(np.arange(n), test)
        best = thresholds[int(np.argmax([np.mean((dist[train] < t) == same[train]) for t in thresholds]))]
        accuracies.append(np.mean((dist[test] < best) == same[test]))
    return np.mean(accuracies), np.std(accuracies)


def main(root):
    features, labels = [], []
    for label, identity in enumerate(sorted(os.listdir(os.path.join(root, "train")))):
        folder = os.path.join(root, "train", identity)
        for name in sorted(os.listdir(folder)):
            features.append(load(os.path.join(folder, name)))
            labels.append(label)
    x, y = np.array(features), np.array(labels)
    same = np.load(os.path.join(root, "synth_val", "pair_label.npy"))
    pairs = np.array([load(os.path.join(root, "synth_val", "imgs", "%d.jpg" % i)) for i in range(2 * len(same))])
    print("pixels:        %.4f+-%.4f" % ten_fold_accuracy(pairs, same))

    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    components, discriminants = 300, 50
    w = vt[:components].T
    z = (x - mean) @ w
    classes = y.max() + 1
    centres = np.array([z[y == c].mean(axis=0) for c in range(classes)])
    within = sum((z[y == c] - centres[c]).T @ (z[y == c] - centres[c]) for c in range(classes)) / len(z)
    between = (centres - centres.mean(axis=0)).T @ (centres - centres.mean(axis=0)) / classes
    values, vectors = np.linalg.eig(np.linalg.solve(within + 1e-6 * np.eye(components), between))
    lda = vectors[:, np.argsort(-values.real)[:discriminants]].real
    print("PCA %d:       %.4f+-%.4f" % ((components,) + ten_fold_accuracy((pairs - mean) @ w, same)))
    print("PCA %d+LDA %d: %.4f+-%.4f" % ((components, discriminants) + ten_fold_accuracy((pairs - mean) @ w @ lda, same)))


if __name__ == "__main__":
    main(sys.argv[1])
