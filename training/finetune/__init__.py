"""Fine-tuning on one robot log with a before/after report: ``python -m training finetune`` (:mod:`.cli`)."""
