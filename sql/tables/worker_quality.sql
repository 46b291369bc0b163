-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `worker_quality` (
  `worker_id` string COMMENT 'Worker: the workerId of worker responses (private.<region>.<id>) when the Cognito sub is known there, else the log\'s worker_id',
  `sequences` int COMMENT 'Sequences the worker labeled in the job',
  `boxes` bigint COMMENT 'Tracked boxes the worker labeled in the job',
  `flagged_boxes` bigint COMMENT 'Of those, boxes in the review queue',
  `flagged_rate` double COMMENT 'flagged_boxes / boxes',
  `audited_sequences` int COMMENT 'Sequences an audit job re-labeled',
  `audited_boxes` bigint COMMENT 'Worker boxes in audited sequences',
  `adjusted_boxes` bigint COMMENT 'Of those, boxes the auditor moved, resized, relabeled, re-identified or deleted',
  `added` bigint COMMENT 'Boxes the auditor added',
  `deleted` bigint COMMENT 'Worker boxes the auditor deleted',
  `adjustment_rate` double COMMENT '(adjusted_boxes + added) / (audited_boxes + added): share of boxes the auditor had to touch; null when nothing was audited',
  `gt_boxes` bigint COMMENT 'Auditor\'s boxes (CLEAR MOT ground truth)',
  `matches` bigint COMMENT 'CLEAR MOT matches (switches included)',
  `misses` bigint COMMENT 'CLEAR MOT misses: auditor\'s boxes with no worker box',
  `false_positives` bigint COMMENT 'CLEAR MOT false positives: worker boxes with no auditor box',
  `id_switches` bigint COMMENT 'CLEAR MOT identity switches',
  `fragmentations` bigint COMMENT 'Auditor tracks interrupted (tracked, missed, tracked again)',
  `mota` double COMMENT '1 - (misses + false_positives + id_switches) / gt_boxes',
  `motp_iou` double COMMENT 'Mean IoU of the CLEAR MOT matches',
  `idtp` bigint COMMENT 'Identity true positives',
  `idf1` double COMMENT '2 idtp / (gt_boxes + worker boxes audited)'
)
COMMENT 'One row per worker x labeling job: how much auditors changed, CLEAR MOT and IDF1'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/worker_quality/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
