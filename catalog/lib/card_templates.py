"""Starting text for a model card, by the kind of system it documents.

Each template asks the questions a reviewer of that kind of system asks first; the author replaces
the prompts. Prompts are plain text, so an unedited template is visibly unfinished.
"""

from __future__ import annotations

from catalog.choices import CardTemplate

TEMPLATES: dict[str, dict[str, object]] = {
    CardTemplate.LLM_RAG: {
        "model_details": "Base model and provider (name, version, hosting region). Retrieval: which corpus, "
                         "how it is chunked and refreshed, the embedding model. System prompt owner.",
        "intended_use": "Who asks what. The answers it gives, with citations to retrieved sources.",
        "out_of_scope_use": "Legal, medical or financial advice; questions outside the indexed corpus; "
                            "decisions about individuals.",
        "training_data": "The base model's training data is the provider's (see their model card). "
                         "Retrieval corpus: sources, owners, classification.",
        "evaluation_data": "Golden question set (size, who wrote it, refresh cadence); red-team prompts.",
        "metrics": "Answer faithfulness, citation accuracy, refusal rate on out-of-scope prompts, latency p95.",
        "limitations": "Hallucination when retrieval misses; stale answers between index refreshes; "
                       "prompt injection through retrieved documents.",
        "ethical_considerations": "Personal data in the corpus; over-reliance by users; accessibility.",
        "caveats": "Show sources with every answer; keep a human in the loop for customer-facing replies.",
        "metric_targets": [
            {"metric": "faithfulness", "op": ">=", "threshold": 0.9},
            {"metric": "citation_accuracy", "op": ">=", "threshold": 0.85},
        ],
    },
    CardTemplate.CLASSIFIER: {
        "model_details": "Architecture, framework, version, training date, owner of the training pipeline.",
        "intended_use": "The decision the score supports, the threshold used, and who acts on it.",
        "out_of_scope_use": "Populations or inputs it was not trained on; fully automated decisions "
                            "with legal effect.",
        "training_data": "Datasets (link the datasheets), time range, label source, class balance.",
        "evaluation_data": "Held-out set: time range, size, how it differs from training.",
        "metrics": "Precision, recall and F1 overall and per slice; calibration; drift monitoring.",
        "limitations": "Known weak slices; sensitivity to distribution shift.",
        "ethical_considerations": "Disparate error rates across protected groups; proxies for protected "
                                  "attributes among the features.",
        "caveats": "Recalibrate after retraining; review slices quarterly.",
        "metric_targets": [
            {"metric": "f1", "op": ">=", "threshold": 0.8},
            {"metric": "precision", "op": ">=", "threshold": 0.85},
        ],
    },
    CardTemplate.AGENT: {
        "model_details": "Planner model and version; the tools it can call (name, scope, side effects); "
                         "maximum steps and spend per task.",
        "intended_use": "The tasks it completes end to end, and where a human approves an action.",
        "out_of_scope_use": "Irreversible actions without approval; tools outside the allow-list; "
                            "acting on behalf of users who did not ask.",
        "training_data": "Provider base model (see their card); few-shot examples and their source.",
        "evaluation_data": "Task suite with expected outcomes; adversarial tasks (prompt injection through "
                           "tool output, privilege escalation).",
        "metrics": "Task success rate, unsafe action rate, human-approval rate, cost per task.",
        "limitations": "Loops and partial completion; tool errors propagating; injected instructions.",
        "ethical_considerations": "Accountability for actions taken; transparency to affected people.",
        "caveats": "Least-privilege tool credentials; a kill switch; every action logged.",
        "metric_targets": [
            {"metric": "task_success_rate", "op": ">=", "threshold": 0.9},
            {"metric": "unsafe_action_rate", "op": "<=", "threshold": 0.0},
        ],
    },
}
