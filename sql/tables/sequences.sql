-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `sequences` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `data_object_index` int COMMENT 'Index of the data object in the job (output/<i>/ and worker-response/.../<i>/)',
  `label_attribute` string COMMENT 'Label attribute name; null for a data object not labeled yet',
  `label_job_name` string COMMENT 'Job that produced these labels (another job\'s for a chained attribute)',
  `inherited` boolean COMMENT 'True when the attribute was chained from an earlier job (e.g. the audited job\'s)',
  `source_ref` string COMMENT 'The data object: a sequence file (video) or an image',
  `labels_ref` string COMMENT 'URI of the labels file (SeqLabel.json) as written in the manifest',
  `labels_inline` string COMMENT 'Labels written inline in the manifest (image jobs), as raw JSON',
  `task_type` string COMMENT 'Ground Truth task type, e.g. groundtruth/video-object-tracking',
  `class_map` map<string,string> COMMENT 'class-id -> label name',
  `adjustment_status` string COMMENT 'adjusted / unadjusted on adjustment (audit) jobs, else null',
  `human_annotated` string COMMENT 'yes / no',
  `creation_time` timestamp COMMENT 'creation-date of the labels (UTC)',
  `metadata` string COMMENT 'The whole <attribute>-metadata object, raw JSON',
  `manifest_line` int COMMENT '1-based line of the output manifest',
  `source_uri` string COMMENT 'Input file the row was read from',
  `labels_read` boolean COMMENT 'True for the attribute whose labels are in frames and boxes (at most one per data object); false when they were inherited or refused; null when it carries none'
)
COMMENT 'One row per data object x label attribute of a job\'s output manifest'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/sequences/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
