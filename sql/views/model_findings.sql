-- What a model's predictions say of the labels (gtlake predictions), ready to review: reason, frame, object (null when nobody labeled it), the label's and the model's class, the model's box and confidence, and the sequence file.
-- order: job_name, reason, evidence DESC, sequence_id, frame_no
SELECT f.job_name, f.model, f.reason, f.sequence_id, f.frame_no, f.object_id, b.object_name, f.label, f.model_label,
       f."left", f."top", f.width, f.height, f.score, f.frames, f.evidence, s.source_ref
FROM prediction_findings f
LEFT JOIN (SELECT job_name, sequence_id, min(source_ref) AS source_ref FROM sequences GROUP BY job_name, sequence_id) s
  ON s.job_name = f.job_name AND s.sequence_id = f.sequence_id
LEFT JOIN (SELECT job_name, sequence_id, object_id, min(object_name) AS object_name FROM boxes
           GROUP BY job_name, sequence_id, object_id) b
  ON b.job_name = f.job_name AND b.sequence_id = f.sequence_id AND b.object_id = f.object_id
