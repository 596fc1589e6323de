#!/usr/bin/python3
"""Reference fixtures for FaceEval (Tests/FaceEvalTests/Fixtures/*.json).

Pinned to Debian bookworm's packages under /usr/bin/python3:
numpy 1.24.2, scikit-learn 1.2.1 (python3-sklearn), scikit-image 0.19.3 (python3-skimage),
OpenCV 4.6.0 (python3-opencv). The script refuses other versions, since roc_curve's first threshold and
warpAffine's fixed-point arithmetic are what the tests pin down.

What each fixture holds (large arrays as base64 of little-endian float32/float64/uint8):
- verification.json: flip-test embeddings + labels -> XNorm, distances, 10-fold accuracies and thresholds,
  ROC AUC, TAR@FAR, computed the way insightface's eval/verification.py does (float64 buffers,
  sklearn.preprocessing.normalize, KFold(n_splits=10, shuffle=False), thresholds np.arange(0, 4, 0.01),
  np.argmax over training accuracies), plus edge cases (N % 10 != 0, all-same labels, distances on the grid).
- roc.json: scores with ties -> sklearn roc_curve / auc, and TAR at the closest FPR (insightface ijb_11.py).
- alignment.json: 5-point landmarks -> skimage SimilarityTransform matrices; a small image warped with
  cv2.warpAffine (INTER_LINEAR, BORDER_CONSTANT, borderValue 0).
- ijb.json: image features, detector scores, template/media ids, pairs -> template features, scores, ROC, TARs
  (insightface ijb_11.py with use_norm_score, use_detector_score and use_flip_test all True).

Run: /usr/bin/python3 scripts/reference/eval_fixtures.py   (writes the files and prints their names)
"""
import base64
import json
import os

import cv2
import numpy as np
import skimage
import sklearn
import sklearn.preprocessing
from sklearn.metrics import auc, roc_curve
from sklearn.model_selection import KFold
from skimage import transform as skimage_transform

assert np.__version__ == "1.24.2", np.__version__
assert sklearn.__version__ == "1.2.1", sklearn.__version__
assert skimage.__version__ == "0.19.3", skimage.__version__
assert cv2.__version__ == "4.6.0", cv2.__version__

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "FaceEvalTests", "Fixtures")
OUT = os.path.normpath(OUT)
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261129)


def b64(array, dtype):
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).astype("<" + np.dtype(dtype).str[1:]).tobytes()).decode()


def f64(values):
    """Doubles travel as base64 float64: Foundation's JSON parser on Linux does not round-trip every double."""
    return b64(np.asarray(values, dtype=np.float64), np.float64)


def write(name, payload):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(payload, f, indent=1)
    print("wrote", path, os.path.getsize(path), "bytes")


# ---------------------------------------------------------------- verification (insightface's protocol)

def tenfold(dist, issame, nfolds=10):
    """Insightface's calculate_roc accuracy part, by brute force over every threshold (the definition)."""
    thresholds = np.arange(0, 4, 0.01)
    accuracy, best = [], []
    for train, test in KFold(n_splits=nfolds, shuffle=False).split(np.arange(len(dist))):
        def acc(threshold, idx):
            predict = np.less(dist[idx], threshold)
            tp = np.sum(np.logical_and(predict, issame[idx]))
            tn = np.sum(np.logical_and(np.logical_not(predict), np.logical_not(issame[idx])))
            return float(tp + tn) / dist[idx].size
        train_acc = np.array([acc(t, train) for t in thresholds])
        b = int(np.argmax(train_acc))
        best.append(float(thresholds[b]))
        accuracy.append(acc(thresholds[b], test))
    return np.array(accuracy), best


def roc_reference(labels, scores, fars):
    """sklearn's roc_curve + auc, then insightface ijb_11.py's closest-FPR lookup on the flipped curve."""
    fpr, tpr, thr = roc_curve(labels, scores)
    area = auc(fpr, tpr)
    ffpr, ftpr = np.flipud(fpr), np.flipud(tpr)
    chosen = [min(zip(abs(ffpr - far), range(len(ffpr))))[1] for far in fars]
    table = {"far": f64(fars), "achievedFAR": f64(ffpr[chosen]), "tar": f64(ftpr[chosen])}
    return fpr, tpr, thr, area, table


def verification_case(name, pairs, dim, same_fraction, noise):
    """Synthetic flip-test embeddings: identity vectors plus noise, float32 as a network gives them."""
    identities = rng.normal(size=(pairs * 2, dim))
    issame = rng.random(pairs) < same_fraction
    emb = np.zeros((2 * pairs, dim))
    for i in range(pairs):
        a = identities[2 * i]
        b = a if issame[i] else identities[2 * i + 1]
        emb[2 * i] = a
        emb[2 * i + 1] = b
    scale = rng.uniform(5, 25, size=(2 * pairs, 1))  # raw embedding norms vary, as XNorm reports
    original = ((emb + noise * rng.normal(size=emb.shape)) * scale).astype(np.float32)
    flipped = ((emb + noise * rng.normal(size=emb.shape)) * scale).astype(np.float32)

    # insightface: embeddings live in float64 buffers (np.zeros default dtype) filled from float32 outputs.
    embeddings_list = [original.astype(np.float64), flipped.astype(np.float64)]
    xnorm, count = 0.0, 0
    for embed in embeddings_list:
        for row in embed:
            xnorm += np.linalg.norm(row)
            count += 1
    xnorm /= count
    embeddings = sklearn.preprocessing.normalize(embeddings_list[0] + embeddings_list[1])
    e1, e2 = embeddings[0::2], embeddings[1::2]
    dist = np.sum(np.square(e1 - e2), 1)
    accuracy, best = tenfold(dist, issame)
    cosine = np.sum(e1 * e2, 1)
    case = {
        "name": name, "pairs": pairs, "dimension": dim,
        "original": b64(original, np.float32), "flipped": b64(flipped, np.float32),
        "isSame": [bool(x) for x in issame],
        "xNorm": xnorm, "distances": b64(dist, np.float64),
        "foldAccuracies": f64(accuracy), "bestThresholds": f64(best),
        "accuracyMean": float(np.mean(accuracy)), "accuracyStd": float(np.std(accuracy)),
        "cosine": b64(cosine, np.float64),
    }
    if 0 < issame.sum() < pairs:
        _, _, _, area, table = roc_reference(issame.astype(int), cosine, [1e-4, 1e-3, 1e-2])
        case["auc"] = area
        case["tarAtFAR"] = table
    return case


def grid_distance_case():
    """Distances exactly on threshold values (k * 0.01 in float64) and repeated: tests strict '<' and ties."""
    pairs = 250
    k = rng.integers(0, 400, size=pairs)
    dist = k * 0.01  # the same products np.arange(0, 4, 0.01) holds
    dist[:20] = 4.5  # above every threshold: never "same"
    issame = (k + rng.normal(scale=60, size=pairs)) < 200
    accuracy, best = tenfold(dist, issame)
    return {"name": "grid_distances", "distances": b64(dist, np.float64), "isSame": [bool(x) for x in issame],
            "foldAccuracies": f64(accuracy), "bestThresholds": f64(best),
            "accuracyMean": float(np.mean(accuracy)), "accuracyStd": float(np.std(accuracy))}


write("verification.json", {
    "embeddingCases": [
        verification_case("balanced_600", 600, 8, 0.5, 0.9),
        verification_case("uneven_403", 403, 8, 0.5, 0.7),      # 403 % 10 == 3: folds of 41, 41, 41, 40, ...
        verification_case("all_same_57", 57, 8, 1.0, 0.8),       # every label True: no ROC
    ],
    "distanceCases": [grid_distance_case()],
})

# ---------------------------------------------------------------- ROC with ties

def roc_case(name, labels, scores, fars):
    fpr, tpr, thr, area, table = roc_reference(labels, scores, fars)
    return {"name": name, "scores": f64(scores), "isSame": [bool(x) for x in labels],
            "fpr": f64(fpr), "tpr": f64(tpr), "thresholds": f64(thr), "auc": area, "table": table}


labels = (rng.random(3000) < 0.3).astype(int)
scores = np.round(rng.normal(size=3000) + 1.5 * labels, 1)  # one decimal: many tied scores
small_labels = np.array([1, 0, 1, 1, 0, 0, 1, 0])
small_scores = np.array([0.9, 0.9, 0.8, 0.7, 0.7, 0.3, 0.3, 0.1])
write("roc.json", {"cases": [
    roc_case("tied_3000", labels, scores, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]),
    roc_case("small_ties", small_labels, small_scores, [0.1, 0.25, 0.5]),
    # FAR 0.375 lies exactly between FPR 0.25 and 0.5: the lookup's tie rule picks the later point.
    roc_case("collinear", np.array([1, 1, 0, 1, 0, 0, 1, 0]), np.arange(8, 0, -1) / 8.0, [0.375, 1e-3]),
]})

# ---------------------------------------------------------------- alignment

TEMPLATE = np.array([[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366],
                     [33.5493, 92.3655], [62.7299, 92.2041]], dtype=np.float32)
TEMPLATE[:, 0] += 8.0  # insightface's 112x112 template: the 96x112 one shifted by 8 pixels


def landmark_set():
    angle = rng.uniform(-0.6, 0.6)
    scale = rng.uniform(0.6, 1.8)
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = rng.uniform(-20, 60, size=2)
    return (TEMPLATE.astype(np.float64) @ rot.T + shift + rng.normal(scale=2.0, size=(5, 2))).astype(np.float32)


transforms = []
for i in range(6):
    lmk = landmark_set()
    if i == 0:
        first_landmarks = lmk
    tform = skimage_transform.SimilarityTransform()
    tform.estimate(lmk, TEMPLATE)  # exactly as insightface: float32 landmarks and template
    exact = skimage_transform.SimilarityTransform()
    exact.estimate(lmk.astype(np.float64), TEMPLATE.astype(np.float64))  # the same fit in float64
    transforms.append({"landmarks": f64(lmk), "matrixInsightface": f64(tform.params[0:2, :]),
                       "matrixFloat64": f64(exact.params[0:2, :])})

# A small textured image, warped with the first transform: part of the output falls outside the source.
height, width = 90, 76
yy, xx = np.mgrid[0:height, 0:width]
image = np.stack([(xx * 3 + yy) % 256, (yy * 5) % 256, ((xx - 40) ** 2 + (yy - 45) ** 2) % 256], axis=-1)
image = np.clip(image + rng.integers(-30, 30, size=image.shape), 0, 255).astype(np.uint8)
tform = skimage_transform.SimilarityTransform()
tform.estimate(first_landmarks, TEMPLATE)
warp_matrix = tform.params[0:2, :]
warped = cv2.warpAffine(image, warp_matrix, (112, 112), borderValue=0.0)
# A second warp with a matrix that has fractional parts everywhere, rotation and upscaling.
matrix2 = np.array([[1.3137, -0.4172, 10.377], [0.4172, 1.3137, -25.611]])
warped2 = cv2.warpAffine(image, matrix2, (112, 112), borderValue=0.0)
write("alignment.json", {
    "template": f64(TEMPLATE),
    "transforms": transforms,
    "image": {"width": width, "height": height, "pixels": b64(image, np.uint8)},
    "warps": [{"matrix": f64(warp_matrix), "pixels": b64(warped, np.uint8)},
              {"matrix": f64(matrix2), "pixels": b64(warped2, np.uint8)}],
})

# ---------------------------------------------------------------- IJB templates

dim, identities_count, images_count = 8, 12, 240
identity_vectors = rng.normal(size=(identities_count, dim))
image_identity = rng.integers(0, identities_count, size=images_count)
templates = np.zeros(images_count, dtype=int)
medias = np.zeros(images_count, dtype=int)
# 40 templates with non-contiguous ids; each template has one identity and several media (some videos).
template_ids = rng.choice(np.arange(100, 100000), size=40, replace=False)
template_identity = rng.integers(0, identities_count, size=40)
for i in range(images_count):
    t = rng.integers(0, 40)
    templates[i] = template_ids[t]
    image_identity[i] = template_identity[t]
    medias[i] = rng.integers(0, 6) + 1000 * t  # a few media per template, repeated: frame averaging
image_scale = rng.uniform(5, 20, size=(images_count, 1))
raw = identity_vectors[image_identity] * image_scale
f_original = (raw + 2.5 * image_scale * rng.normal(size=raw.shape)).astype(np.float32)
f_flipped = (raw + 2.5 * image_scale * rng.normal(size=raw.shape)).astype(np.float32)
faceness = rng.uniform(0.3, 1.0, size=images_count).astype(np.float32)
present = np.unique(templates)
# 600 distinct unordered pairs of different templates (a repeated pair would only repeat a score).
all_pairs = np.array([(a, b) for i, a in enumerate(present) for b in present[i + 1:]])
chosen = all_pairs[rng.choice(len(all_pairs), size=min(600, len(all_pairs)), replace=False)]
p1, p2 = chosen[:, 0], chosen[:, 1]
identity_of = {template_ids[t]: template_identity[t] for t in range(40)}
pair_label = np.array([int(identity_of[a] == identity_of[b]) for a, b in zip(p1, p2)])

# insightface ijb_11.py, F2 + N1 + D1: float32 features (concatenated in the original, here two arrays).
img_feats = np.concatenate([f_original, f_flipped], axis=1)
img_input_feats = img_feats[:, 0:img_feats.shape[1] // 2] + img_feats[:, img_feats.shape[1] // 2:]
img_input_feats = img_input_feats * faceness[:, np.newaxis]


def template_scores(features, media_dtype):
    """image2template_feature + verification of ijb_11.py; media means taken in `media_dtype`."""
    unique_templates = np.unique(templates)
    template_feats = np.zeros((len(unique_templates), features.shape[1]))
    for row, t in enumerate(unique_templates):
        (ind_t,) = np.where(templates == t)
        feats, tmedias = features[ind_t].astype(media_dtype), medias[ind_t]
        per_media = []
        for m in np.unique(tmedias):
            (ind_m,) = np.where(tmedias == m)
            per_media.append(feats[ind_m] if len(ind_m) == 1 else np.mean(feats[ind_m], axis=0, keepdims=True))
        template_feats[row] = np.sum(np.array(per_media), axis=0)
    template_norm = sklearn.preprocessing.normalize(template_feats)
    row_of = {t: r for r, t in enumerate(unique_templates)}
    scores = np.array([np.sum(template_norm[row_of[a]] * template_norm[row_of[b]]) for a, b in zip(p1, p2)])
    return unique_templates, template_norm, scores


unique_templates, template_norm, ijb_scores = template_scores(img_input_feats, np.float32)  # as insightface
_, _, scores_f64 = template_scores(img_input_feats, np.float64)  # as FaceEval averages
gaps = np.diff(np.sort(ijb_scores))
# The TAR comparison in the tests is exact only if averaging media in float64 (FaceEval) rather than float32
# (numpy here) cannot reorder two scores: the change must stay well below the smallest gap between scores.
print("smallest score gap %.3g, largest float32-vs-float64 score change %.3g"
      % (gaps[gaps > 0].min(), np.abs(ijb_scores - scores_f64).max()))
assert np.abs(ijb_scores - scores_f64).max() < gaps[gaps > 0].min() / 10
fars = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
fpr, tpr, thr, area, table = roc_reference(pair_label, ijb_scores, fars)
write("ijb.json", {
    "dimension": dim,
    "original": b64(f_original, np.float32), "flipped": b64(f_flipped, np.float32),
    "detectorScores": b64(faceness, np.float32),
    "templates": templates.tolist(), "medias": medias.tolist(),
    "pairs": [[int(a), int(b), int(l)] for a, b, l in zip(p1, p2, pair_label)],
    "templateIDs": unique_templates.tolist(), "templateFeatures": b64(template_norm, np.float64),
    "scores": b64(ijb_scores, np.float64),
    "fpr": f64(fpr), "tpr": f64(tpr), "auc": area, "table": table,
})
