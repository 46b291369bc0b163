-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `audit_changes` (
  `source_job` string COMMENT 'Job whose labels were audited',
  `sequence_id` string COMMENT 'Sequence of the source job (\'<source_job>:<index>\')',
  `audit_sequence_id` string COMMENT 'Sequence of the audit job',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `object_id` string COMMENT 'Worker\'s object-id (null: the auditor added the box)',
  `audit_object_id` string COMMENT 'Auditor\'s object-id (null: the auditor deleted the box)',
  `label` string COMMENT 'Worker\'s class name',
  `audit_label` string COMMENT 'Auditor\'s class name',
  `change` string COMMENT 'unchanged / moved / resized / relabeled / reidentified / added / deleted',
  `moved` boolean COMMENT 'Position changed (either edge beyond the tolerance)',
  `resized` boolean COMMENT 'Width or height changed beyond the tolerance',
  `relabeled` boolean COMMENT 'Class changed',
  `reidentified` boolean COMMENT 'Paired by overlap with a box of another object-id',
  `attributes_changed` boolean COMMENT 'label-category-attributes differ',
  `iou` double COMMENT 'IoU of the worker\'s and the auditor\'s box (null when one is missing)',
  `left` double COMMENT 'Worker\'s left edge',
  `top` double COMMENT 'Worker\'s top edge',
  `width` double COMMENT 'Worker\'s width',
  `height` double COMMENT 'Worker\'s height',
  `audit_left` double COMMENT 'Auditor\'s left edge',
  `audit_top` double COMMENT 'Auditor\'s top edge',
  `audit_width` double COMMENT 'Auditor\'s width',
  `audit_height` double COMMENT 'Auditor\'s height',
  `mot_gt` string COMMENT 'CLEAR MOT event of the auditor\'s box: match / switch / miss (auditor = ground truth)',
  `mot_fp` boolean COMMENT 'The worker\'s box is a CLEAR MOT false positive',
  `mot_iou` double COMMENT 'IoU of the CLEAR MOT match of the auditor\'s box',
  `mot_fragment` boolean COMMENT 'The auditor\'s box starts a fragmentation (tracked, then missed, in its track)',
  `id_tp` boolean COMMENT 'The auditor\'s box is an identity true positive (IDF1\'s global track assignment)',
  `flagged` boolean COMMENT 'The quality job queued this (frame, object) for review',
  `labeler_id` string COMMENT 'Worker who labeled the source sequence (worker_responses)',
  `auditor_id` string COMMENT 'Worker who audited it',
  `adjustment_status` string COMMENT 'adjusted / unadjusted, as the audit job wrote it'
)
COMMENT 'One row per box of a worker or an auditor, paired across an audit'
PARTITIONED BY (`audit_job` string COMMENT 'Adjustment (audit) job')
STORED AS PARQUET
LOCATION '${lake}/audit_changes/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
