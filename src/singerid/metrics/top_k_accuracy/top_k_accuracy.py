"""Top-k accuracy as an `evaluate` metric, loaded by path so it works offline:

    evaluate.load("<singerid>/metrics/top_k_accuracy").compute(predictions=scores, references=labels, k=[1, 3])

Ties are counted fairly: a reference tied with other classes at the edge of the top k
scores the chance that a random tie-break puts it inside (uniform scores give k / C).
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Fraction of examples whose true class is among the k highest-scoring classes."
_INPUTS = """
Args:
    predictions: per example, one score (logit or probability) per class.
    references: the true class index of each example.
    k: an int or a list of ints; k larger than the number of classes gives 1.0.
Returns:
    {"top{k}_accuracy": float in [0, 1]} for each k.
"""


class TopKAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("float64")),
                "references": datasets.Value("int64"),
            }),
        )

    def _compute(self, predictions, references, k=1):
        scores = np.asarray(predictions, dtype=np.float64)
        labels = np.asarray(references, dtype=np.int64)
        if len(labels) == 0:
            return {f"top{size}_accuracy": float("nan") for size in np.atleast_1d(k)}
        true_scores = scores[np.arange(len(labels)), labels][:, None]
        above = (scores > true_scores).sum(axis=1)  # classes that certainly rank higher
        tied = (scores == true_scores).sum(axis=1)  # the true class and those tied with it
        return {f"top{size}_accuracy": float(np.clip((size - above) / tied, 0.0, 1.0).mean())
                for size in np.atleast_1d(k)}
