#!/usr/bin/env bash
# V2I evidence on real endoscopy video (VocalFolds, train patient1/seq1, test patient1/seq2):
# the video teacher, the undistilled student and the TFD + CQD distilled student, each scored on
# the test sequence (COCO AP, lesion F1 under both protocols; the F1 threshold is the best one of
# the validation split, never tuned on the test split). Train first:
#
#   video-perception train v2i_teacher_tiny_vocalfolds
#   video-perception train v2i_student_tiny_vocalfolds
#   video-perception train v2i_distill_tiny_vocalfolds
#   make evidence-v2i    # scripts/evidence_v2i.sh > docs/v2i_evidence_table.md
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p runs/v2i_results
jsons=()
for exp in v2i_teacher_tiny_vocalfolds v2i_student_tiny_vocalfolds v2i_distill_tiny_vocalfolds; do
  ckpt=runs/$exp/best.pt
  [[ -f $ckpt ]] || { echo "evidence_v2i: no checkpoint $ckpt (train $exp first)" >&2; exit 1; }
  OMP_NUM_THREADS=1 $PY -m training.v2i_eval "$exp" "$ckpt" --split test \
      --out "runs/v2i_results/$exp.json" > /dev/null
  jsons+=("runs/v2i_results/$exp.json")
done
$PY -m training.v2i_eval --table "${jsons[@]}"
