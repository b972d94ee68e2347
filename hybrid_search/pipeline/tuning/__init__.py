"""`hybrid tune ...`: choose each mode's parameters on the valid partition, never on the annotated queries.

One module per tuner (lexical, dense, hybrid, rerank); common.py holds the valid first stage, the scores and
how a choice is recorded (the grid under runs/tune/, the choice in the alias's tuned store).
"""
