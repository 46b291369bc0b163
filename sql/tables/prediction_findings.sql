-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `prediction_findings` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `object_id` string COMMENT 'The labeled object it concerns; null for overlooked (nobody labeled it)',
  `reason` string COMMENT 'overlooked (an object the model sees over several frames that has no label), badly_located (a label far off the model\'s clearly overlapping box), class_disagrees (the model names another class over most of the track)',
  `label` string COMMENT 'The label\'s class (overlooked: the model\'s)',
  `model_label` string COMMENT 'The class the model predicted',
  `left` double COMMENT 'The model\'s box: left edge, pixels',
  `top` double COMMENT 'The model\'s box: top edge, pixels',
  `width` double COMMENT 'The model\'s box: width, pixels (> 0)',
  `height` double COMMENT 'The model\'s box: height, pixels (> 0)',
  `score` double COMMENT 'The model\'s confidence on that frame',
  `frames` int COMMENT 'Frames behind the finding (overlooked: the chain\'s confident frames; class_disagrees: the frames naming another class)',
  `evidence` double COMMENT 'How far past its threshold (overlooked: mean score over the class threshold; badly_located: robust z of the offset; class_disagrees: share of the track\'s frames)',
  `model` string COMMENT 'The model\'s name, as given to gtlake predictions (--model)'
)
COMMENT 'One row per thing a model\'s predictions say of the labels (gtlake predictions)'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/prediction_findings/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
