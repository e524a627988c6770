# Data tier: RDS (PostgreSQL or MySQL) Multi-AZ primary plus a read replica,
# encrypted with the CMK, master password generated and rotated by RDS in
# Secrets Manager, TLS forced by the parameter group.

locals {
  db_name           = "newsread"
  db_port           = var.db_engine == "postgres" ? 5432 : 3306
  db_engine_version = coalesce(var.db_engine_version, var.db_engine == "postgres" ? "16" : "8.0")
  db_version_parts  = split(".", local.db_engine_version)
  db_family = (var.db_engine == "postgres"
    ? "postgres${local.db_version_parts[0]}"
  : "mysql${local.db_version_parts[0]}.${try(local.db_version_parts[1], "0")}")
  db_log_exports      = var.db_engine == "postgres" ? ["postgresql", "upgrade"] : ["error", "general", "slowquery"]
  db_parameter_group  = var.db_engine == "postgres" ? aws_db_parameter_group.postgres[0].name : aws_db_parameter_group.mysql[0].name
  db_identifier       = "${local.prefix}-db"
  db_replica_identity = "${local.prefix}-db-replica"
}

# The final snapshot's name carries the database's creation time, fixed at
# creation and kept in state: a stack destroyed, re-created and destroyed again
# does not collide with the first final snapshot (RDS refuses a duplicate
# name). No hashicorp/random: the plan timestamp is enough.
resource "terraform_data" "db_final_snapshot_suffix" {
  input = formatdate("YYYYMMDD-hhmmss", plantimestamp())

  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_db_subnet_group" "this" {
  name        = "${local.prefix}-db"
  description = "NewsRead data subnets (three zones)"
  subnet_ids  = aws_subnet.private_data[*].id
}

# One parameter group per engine so that each parameter is written out
# literally: TLS is mandatory and slow statements are logged.
resource "aws_db_parameter_group" "postgres" {
  count = var.db_engine == "postgres" ? 1 : 0

  name_prefix = "${local.prefix}-pg-"
  family      = local.db_family
  description = "NewsRead PostgreSQL: TLS required, slow and DDL statements logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_parameter_group" "mysql" {
  count = var.db_engine == "mysql" ? 1 : 0

  name_prefix = "${local.prefix}-mysql-"
  family      = local.db_family
  description = "NewsRead MySQL: TLS required, slow queries logged"

  parameter {
    name  = "require_secure_transport"
    value = "1"
  }

  parameter {
    name  = "slow_query_log"
    value = "1"
  }

  parameter {
    name  = "long_query_time"
    value = "1"
  }

  parameter {
    name  = "log_output"
    value = "FILE"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Enhanced monitoring (OS metrics every 30 s).
data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${local.prefix}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# The log groups RDS exports to, created first so they are encrypted and
# expire (RDS would otherwise create them unencrypted, kept forever).
resource "aws_cloudwatch_log_group" "rds" {
  for_each = toset(flatten([
    for id in [local.db_identifier, local.db_replica_identity] : [
      for log in local.db_log_exports : "/aws/rds/instance/${id}/${log}"
    ]
  ]))

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_db_instance" "primary" {
  identifier     = local.db_identifier
  engine         = var.db_engine
  engine_version = local.db_engine_version
  instance_class = var.db_instance_class
  db_name        = local.db_name
  port           = local.db_port

  username                      = var.db_master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.main.arn

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.main.arn

  multi_az               = true
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = local.db_parameter_group
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = var.db_skip_final_snapshot
  final_snapshot_identifier = "${local.db_identifier}-final-${terraform_data.db_final_snapshot_suffix.output}"

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.main.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 30
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports       = local.db_log_exports

  depends_on = [aws_cloudwatch_log_group.rds, aws_iam_role_policy_attachment.rds_monitoring]
}

resource "aws_db_instance" "replica" {
  #checkov:skip=CKV_AWS_157:The primary is Multi-AZ; this read replica only offloads reads and is rebuilt from the primary if its zone fails (db_replica_multi_az = true makes it Multi-AZ too, at twice the cost).
  identifier          = local.db_replica_identity
  replicate_source_db = aws_db_instance.primary.identifier
  instance_class      = coalesce(var.db_replica_instance_class, var.db_instance_class)

  multi_az               = var.db_replica_multi_az
  storage_encrypted      = true
  kms_key_id             = aws_kms_key.main.arn
  max_allocated_storage  = var.db_max_allocated_storage_gb
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = local.db_parameter_group
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  # Backups on the replica make a promotion immediately recoverable.
  backup_retention_period = 7
  backup_window           = "02:00-03:00"
  maintenance_window      = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot   = true
  deletion_protection     = var.db_deletion_protection
  skip_final_snapshot     = true # RDS takes no final snapshot of a replica

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.main.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 30
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports       = local.db_log_exports

  depends_on = [aws_cloudwatch_log_group.rds]
}
