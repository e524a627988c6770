output "site_url" {
  description = "Public URL of the site: https://<domain_name> through CloudFront, or http://<ALB DNS name> in trial mode."
  value       = local.edge_enabled ? "https://${var.domain_name}" : "http://${aws_lb.app.dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (with a domain it only answers CloudFront; use site_url)."
  value       = aws_lb.app.dns_name
}

output "cloudfront_domain_name" {
  description = "CloudFront distribution domain name (null without a domain)."
  value       = local.edge_enabled ? aws_cloudfront_distribution.this[0].domain_name : null
}

output "cloudfront_distribution_id" {
  description = "CloudFront distribution ID, for cache invalidations (null without a domain)."
  value       = local.edge_enabled ? aws_cloudfront_distribution.this[0].id : null
}

output "db_endpoint" {
  description = "Primary (Multi-AZ) database endpoint, host:port."
  value       = aws_db_instance.primary.endpoint
}

output "db_replica_endpoint" {
  description = "Read replica endpoint, host:port."
  value       = aws_db_instance.replica.endpoint
}

output "db_master_secret_arn" {
  description = "ARN of the RDS-managed Secrets Manager secret holding the master credentials (rotated every 7 days by RDS)."
  value       = aws_db_instance.primary.master_user_secret[0].secret_arn
}

output "mediastack_secret_arn" {
  description = "ARN of the mediastack API key secret (null unless create_mediastack_secret). Set its value with the AWS CLI."
  value       = var.create_mediastack_secret ? aws_secretsmanager_secret.mediastack[0].arn : null
}

output "artifact_bucket" {
  description = "S3 bucket holding release artifacts under releases/."
  value       = aws_s3_bucket.artifacts.id
}

output "artifact_key" {
  description = "S3 key of the binary the current launch template deploys."
  value       = local.artifact_key
}

output "artifact_sha256" {
  description = "SHA-256 the instances verify the binary against."
  value       = local.artifact_sha256
}

output "autoscaling_group_name" {
  description = "Name of the app Auto Scaling group (for instance refresh commands)."
  value       = aws_autoscaling_group.app.name
}

output "app_log_group" {
  description = "CloudWatch log group with the app logs."
  value       = aws_cloudwatch_log_group.app.name
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms publish to."
  value       = aws_sns_topic.alarms.arn
}

output "efs_file_system_id" {
  description = "EFS file system mounted at NEWSREAD_SHARED_DIR."
  value       = aws_efs_file_system.shared.id
}

output "efs_access_point_id" {
  description = "EFS access point (fixed uid/gid, root /newsread)."
  value       = aws_efs_access_point.shared.id
}

output "bastion_instance_id" {
  description = "Instance ID of the SSM bastion (null unless enable_bastion)."
  value       = var.enable_bastion ? aws_instance.bastion[0].id : null
}

output "pipeline_name" {
  description = "Name of the delivery pipeline (null unless enable_pipeline)."
  value       = var.enable_pipeline ? aws_codepipeline.release[0].name : null
}

output "pipeline_source_location" {
  description = "Where a release starts: s3://bucket/key of the source zip (pipeline_source = s3), or the CodeStar connection ARN to complete in the console (codestar); null unless enable_pipeline."
  value       = local.pipeline_s3 == 1 ? "s3://${aws_s3_bucket.pipeline[0].id}/${local.pipeline_source_key}" : (local.pipeline_cs == 1 ? aws_codestarconnections_connection.source[0].arn : null)
}

output "release_parameter" {
  description = "SSM parameter naming the release the fleet runs (S3 key, version id, SHA-256); written by the pipeline (null unless enable_pipeline)."
  value       = var.enable_pipeline ? aws_ssm_parameter.release[0].name : null
}
