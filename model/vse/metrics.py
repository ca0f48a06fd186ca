"""Retrieval recall of a joint embedding, as the original's `i2t` / `t2i` computed it (reference d.3).

* Image annotation (i2t): rank all captions for each image; the image's rank is the best rank of
  any of its own captions (5 in Flickr8k/COCO).
* Image search (t2i): rank all images for each caption; the rank of its image.
* R@K = percentage of ranks < K (ranks from 0); medr = floor(median rank) + 1.

The original assumed exactly 5 captions per image, stored next to each other; here each caption
names its image by row, so any number per image works.
"""

import numpy as np

KS = (1, 5, 10)


def summarize(ranks: np.ndarray) -> dict[str, float]:
    summary = {f"r{k}": float(100.0 * np.mean(ranks < k)) for k in KS}
    summary["medr"] = float(np.floor(np.median(ranks)) + 1)
    return summary


def i2t_ranks(images: np.ndarray, captions: np.ndarray, caption_image: np.ndarray) -> np.ndarray:
    """(N_images,) best rank among each image's captions; images (N_i, D), captions (N_c, D) and
    caption_image (N_c,) the image row of each caption."""
    scores = images @ captions.T
    # Rank of caption j for image i = number of captions scoring strictly higher.
    own = np.where(caption_image[None, :] == np.arange(len(images))[:, None], scores, -np.inf)
    best_own = own.max(axis=1)
    return (scores > best_own[:, None]).sum(axis=1)


def t2i_ranks(images: np.ndarray, captions: np.ndarray, caption_image: np.ndarray) -> np.ndarray:
    """(N_captions,) rank of each caption's own image among all images."""
    scores = captions @ images.T
    own = scores[np.arange(len(captions)), caption_image]
    return (scores > own[:, None]).sum(axis=1)


def recall_report(images: np.ndarray, captions: np.ndarray, caption_image: np.ndarray) -> dict:
    """Both directions, their R-sum (the original's model-selection criterion) and the set sizes."""
    i2t = summarize(i2t_ranks(images, captions, caption_image))
    t2i = summarize(t2i_ranks(images, captions, caption_image))
    rsum = sum(part[f"r{k}"] for part in (i2t, t2i) for k in KS)
    return {"i2t": i2t, "t2i": t2i, "rsum": rsum, "images": len(images), "captions": len(captions)}
