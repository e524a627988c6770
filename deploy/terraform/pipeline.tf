# Delivery pipeline (enable_pipeline, off by default; docs/deploy-aws.md,
# "Releasing"):
#
#   Source  S3 (a zip of the repository at s3://<pipeline bucket>/source/newsread.zip,
#           versioned, KMS; an upload starts a run through EventBridge) or a
#           CodeStar connection to pipeline_repository / pipeline_branch
#   Build   CodeBuild, buildspec.yml at the repository root: fmt, clippy, the
#           tests that need no database or emulator servers, scripts/release
#           for the architecture's target; outputs the binary, its .sha256
#           and the deploy script
#   Deploy  CodeBuild running deploy/aws/release-to-fleet: the binary becomes
#           a new version of releases/pipeline/newsread-<arch> in the artifact
#           bucket, a new launch template version names that version and its
#           SHA-256, and an instance refresh with checkpoints, auto-rollback
#           and the 5xx + unhealthy-host alarms replaces the fleet; the stage
#           waits and fails when the refresh fails or rolls back
#
# Who owns the release (no drift back to Terraform's binary): the pointer
# to the running release (S3 key, version id, SHA-256) lives in the SSM
# parameter /<name>/<environment>/release. Terraform creates it from
# artifact_* and then ignores its value; the deploy script overwrites it after
# each successful refresh. The user data renders local.release, read from
# that parameter, so a later `terraform apply` renders exactly the user data
# the pipeline wrote (the script builds it with Terraform's own base64gzip)
# and the launch template does not change; a Terraform change to anything
# else in the user data rolls out with the pipeline's current binary.
#
# IAM: one role per actor (CodePipeline, build, deploy, EventBridge), each
# naming its bucket prefixes, projects, parameter, launch template, group,
# alarms and log group; "*" only for Describe calls that have no
# resource-level permissions. Everything at rest uses the project's key.

locals {
  pipeline       = var.enable_pipeline ? 1 : 0
  pipeline_s3    = var.enable_pipeline && var.pipeline_source == "s3" ? 1 : 0
  pipeline_cs    = var.enable_pipeline && var.pipeline_source == "codestar" ? 1 : 0
  pipeline_name  = "${local.prefix}-release"
  pipeline_arn   = "arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${local.pipeline_name}"
  pipeline_build = "${local.prefix}-build"
  pipeline_ship  = "${local.prefix}-deploy"

  # CodePipeline stores artifacts under the pipeline's name, cut to 20
  # characters: the prefix covers both spellings.
  pipeline_artifact_prefix = substr(local.pipeline_name, 0, 20)
  pipeline_source_key      = "source/newsread.zip"

  release_parameter = "/${var.name}/${var.environment}/release"
  # One key per architecture, many versions: the lifecycle rule of the
  # artifact bucket keeps artifact_releases_kept earlier ones for rollbacks.
  pipeline_release_key = "releases/pipeline/newsread-${var.architecture}"
  rust_target          = var.architecture == "arm64" ? "aarch64-unknown-linux-gnu" : "x86_64-unknown-linux-gnu"

  # The release the user data renders (s3.tf): the parameter's current value
  # with the pipeline, Terraform's own artifact without.
  release = var.enable_pipeline ? jsondecode(aws_ssm_parameter.release[0].insecure_value) : {
    key        = local.terraform_artifact_key
    version_id = local.terraform_artifact_version_id
    sha256     = local.terraform_artifact_sha256
  }

  # StartInstanceRefresh preferences of a pipeline release (passed verbatim
  # to the deploy script): zero downtime (new instances first), checkpoints
  # with a pause long enough for the alarms, and rollback to the previous
  # launch template version when either alarm fires or an instance never
  # gets ready (the launch gate abandons it).
  refresh_alarms = [
    aws_cloudwatch_metric_alarm.target_5xx.alarm_name,
    aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name,
  ]
  refresh_preferences = {
    MinHealthyPercentage      = 100
    MaxHealthyPercentage      = 150
    InstanceWarmup            = 120
    SkipMatching              = true
    AutoRollback              = true
    ScaleInProtectedInstances = "Refresh"
    StandbyInstances          = "Terminate"
    CheckpointPercentages     = var.pipeline_checkpoint_percentages
    CheckpointDelay           = var.pipeline_checkpoint_delay_seconds
    AlarmSpecification        = { Alarms = local.refresh_alarms }
  }

  # Terraform the deploy stage uses for base64gzip (the same function, so
  # the same bytes, as the launch template's user_data): the version this
  # configuration is checked with, and the SHA-256 of its linux_amd64 zip.
  deploy_terraform_version = "1.11.4"
  deploy_terraform_sha256  = "1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc"
}

# ------------------------------------------------------ release pointer ---

resource "aws_ssm_parameter" "release" {
  #checkov:skip=CKV2_AWS_34:A pointer to a release (S3 key, version id, SHA-256), not a secret; a String keeps it readable in plans and to the deploy role without KMS.
  count = local.pipeline

  name        = local.release_parameter
  description = "Release the fleet runs (written by deploy/aws/release-to-fleet after each successful instance refresh)"
  type        = "String"
  tier        = "Standard"
  insecure_value = jsonencode({
    key        = local.terraform_artifact_key
    version_id = local.terraform_artifact_version_id
    sha256     = local.terraform_artifact_sha256
  })

  lifecycle {
    # The pipeline owns the value after the first release.
    ignore_changes = [insecure_value]
  }
}

# ------------------------------------------------------- pipeline bucket ---

resource "aws_s3_bucket" "pipeline" {
  #checkov:skip=CKV_AWS_144:Pipeline artifacts and the build cache are rebuilt from the repository; a cross-region replica adds cost without a recovery need.
  count = local.pipeline

  bucket        = "${local.prefix}-pipeline-${local.account_id}-${local.region}"
  force_destroy = false
}

resource "aws_s3_bucket_public_access_block" "pipeline" {
  count = local.pipeline

  bucket                  = aws_s3_bucket.pipeline[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "pipeline" {
  count = local.pipeline

  bucket = aws_s3_bucket.pipeline[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# CodePipeline's S3 source needs a versioned bucket.
resource "aws_s3_bucket_versioning" "pipeline" {
  count = local.pipeline

  bucket = aws_s3_bucket.pipeline[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "pipeline" {
  count = local.pipeline

  bucket = aws_s3_bucket.pipeline[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "pipeline" {
  count = local.pipeline

  bucket = aws_s3_bucket.pipeline[0].id

  # Run artifacts (source zips, build outputs) matter only while a run uses
  # them; the released binary itself lives in the artifact bucket.
  rule {
    id     = "expire-run-artifacts"
    status = "Enabled"

    filter {
      prefix = local.pipeline_artifact_prefix
    }

    expiration {
      days = 30
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "expire-build-cache"
    status = "Enabled"

    filter {
      prefix = "cache/"
    }

    expiration {
      days = 14
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "keep-recent-sources"
    status = "Enabled"

    filter {
      prefix = "source/"
    }

    noncurrent_version_expiration {
      noncurrent_days           = 30
      newer_noncurrent_versions = 10
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_logging" "pipeline" {
  count = local.pipeline

  bucket        = aws_s3_bucket.pipeline[0].id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/pipeline/"

  depends_on = [aws_s3_bucket_policy.logs]
}

# Object events go to EventBridge: an upload of the source zip starts a run.
resource "aws_s3_bucket_notification" "pipeline" {
  count = local.pipeline

  bucket      = aws_s3_bucket.pipeline[0].id
  eventbridge = true
}

data "aws_iam_policy_document" "pipeline_bucket" {
  count = local.pipeline

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.pipeline[0].arn, "${aws_s3_bucket.pipeline[0].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "pipeline" {
  count = local.pipeline

  bucket = aws_s3_bucket.pipeline[0].id
  policy = data.aws_iam_policy_document.pipeline_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.pipeline]
}

# ------------------------------------------------------------ log groups ---

resource "aws_cloudwatch_log_group" "pipeline" {
  for_each = var.enable_pipeline ? toset(["build", "deploy"]) : toset([])

  name              = "/newsread/${var.environment}/pipeline/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# ----------------------------------------------------- CodeStar connection ---

# Created PENDING: someone with access to the repository completes it once
# in the console (Developer Tools > Connections). The API cannot.
resource "aws_codestarconnections_connection" "source" {
  count = local.pipeline_cs

  name          = substr("${local.prefix}-source", 0, 32)
  provider_type = var.pipeline_connection_provider
}

# ------------------------------------------------------------------ roles ---

data "aws_iam_policy_document" "pipeline_assume" {
  for_each = var.enable_pipeline ? toset(["codepipeline", "codebuild", "events"]) : toset([])

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["${each.key}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "pipeline" {
  count = local.pipeline

  name               = "${local.prefix}-pipeline"
  description        = "NewsRead CodePipeline: moves artifacts between stages and starts the two CodeBuild projects"
  assume_role_policy = data.aws_iam_policy_document.pipeline_assume["codepipeline"].json
}

resource "aws_iam_role" "pipeline_build" {
  count = local.pipeline

  name               = "${local.prefix}-pipeline-build"
  description        = "NewsRead CodeBuild build stage: reads the source, writes the build output and cache"
  assume_role_policy = data.aws_iam_policy_document.pipeline_assume["codebuild"].json
}

resource "aws_iam_role" "pipeline_deploy" {
  count = local.pipeline

  name               = "${local.prefix}-pipeline-deploy"
  description        = "NewsRead CodeBuild deploy stage: uploads the release, adds a launch template version, refreshes the group"
  assume_role_policy = data.aws_iam_policy_document.pipeline_assume["codebuild"].json
}

resource "aws_iam_role" "pipeline_trigger" {
  count = local.pipeline_s3

  name               = "${local.prefix}-pipeline-trigger"
  description        = "NewsRead EventBridge rule: starts the pipeline when a source zip is uploaded"
  assume_role_policy = data.aws_iam_policy_document.pipeline_assume["events"].json
}

locals {
  pipeline_bucket_arn = var.enable_pipeline ? aws_s3_bucket.pipeline[0].arn : ""
  # Run artifacts (source and build output), the build cache, the source zip.
  pipeline_run_objects = "${local.pipeline_bucket_arn}/${local.pipeline_artifact_prefix}*"
  pipeline_cache_arn   = "${local.pipeline_bucket_arn}/cache/*"
  pipeline_source_arn  = "${local.pipeline_bucket_arn}/${local.pipeline_source_key}"
  pipeline_project_arns = [
    "arn:${local.partition}:codebuild:${local.region}:${local.account_id}:project/${local.pipeline_build}",
    "arn:${local.partition}:codebuild:${local.region}:${local.account_id}:project/${local.pipeline_ship}",
  ]
  launch_template_arn = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:launch-template/${aws_launch_template.app.id}"
  # KMS only through S3 (artifacts, cache, releases): the log groups are
  # encrypted by CloudWatch Logs itself (kms.tf).
  kms_via_s3 = ["s3.${local.region}.amazonaws.com"]
}

# CodePipeline: artifacts in and out of its store, the source (S3 object or
# connection), the two projects.
data "aws_iam_policy_document" "pipeline" {
  count = local.pipeline

  statement {
    sid       = "RunArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = [local.pipeline_run_objects]
  }

  statement {
    sid       = "ArtifactStoreBucket"
    actions   = ["s3:GetBucketVersioning", "s3:GetBucketLocation"]
    resources = [local.pipeline_bucket_arn]
  }

  dynamic "statement" {
    for_each = var.pipeline_source == "s3" ? [1] : []

    content {
      sid       = "ReadSourceZip"
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = [local.pipeline_source_arn]
    }
  }

  dynamic "statement" {
    for_each = var.pipeline_source == "codestar" ? [1] : []

    content {
      sid       = "UseSourceConnection"
      actions   = ["codestar-connections:UseConnection"]
      resources = [aws_codestarconnections_connection.source[0].arn]
    }
  }

  statement {
    sid       = "RunTheTwoProjects"
    actions   = ["codebuild:StartBuild", "codebuild:BatchGetBuilds"]
    resources = local.pipeline_project_arns
  }

  statement {
    sid       = "EncryptArtifactsThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_s3
    }
  }
}

resource "aws_iam_role_policy" "pipeline" {
  count = local.pipeline

  name   = "newsread-pipeline"
  role   = aws_iam_role.pipeline[0].id
  policy = data.aws_iam_policy_document.pipeline[0].json
}

# Build: the run's source in, the build output out, its cache, its logs.
data "aws_iam_policy_document" "pipeline_build" {
  count = local.pipeline

  statement {
    sid       = "RunArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = [local.pipeline_run_objects]
  }

  statement {
    sid       = "BuildCache"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [local.pipeline_cache_arn]
  }

  statement {
    sid       = "ArtifactStoreBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    resources = [local.pipeline_bucket_arn]
  }

  statement {
    sid       = "EncryptArtifactsThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_s3
    }
  }

  statement {
    sid       = "WriteBuildLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.pipeline["build"].arn}:*"]
  }
}

resource "aws_iam_role_policy" "pipeline_build" {
  count = local.pipeline

  name   = "newsread-pipeline-build"
  role   = aws_iam_role.pipeline_build[0].id
  policy = data.aws_iam_policy_document.pipeline_build[0].json
}

# Deploy: exactly what deploy/aws/release-to-fleet calls.
data "aws_iam_policy_document" "pipeline_deploy" {
  #checkov:skip=CKV_AWS_111:The only "*" statement holds Describe calls (launch templates, groups, instance refreshes) that have no resource-level permissions; every write names its launch template, group, object or parameter.
  #checkov:skip=CKV_AWS_356:"*" only for ec2:DescribeLaunchTemplates/Versions and autoscaling:DescribeAutoScalingGroups/InstanceRefreshes, which accept no other resource.
  count = local.pipeline

  statement {
    sid       = "ReadBuildOutput"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [local.pipeline_run_objects]
  }

  statement {
    sid       = "ArtifactStoreBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    resources = [local.pipeline_bucket_arn]
  }

  # New versions of the one pipeline release key; nothing else in the
  # artifact bucket, and no delete (the lifecycle rule expires old ones).
  statement {
    sid       = "UploadRelease"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/${local.pipeline_release_key}"]
  }

  statement {
    sid       = "EncryptThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_s3
    }
  }

  statement {
    sid       = "ReleasePointer"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = [aws_ssm_parameter.release[0].arn]
  }

  statement {
    sid       = "NewLaunchTemplateVersion"
    actions   = ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "ec2:DeleteLaunchTemplateVersions"]
    resources = [local.launch_template_arn]
  }

  # Auto Scaling checks that whoever names a launch template in a refresh
  # may launch it (RunInstances from this template only, CreateTags at
  # launch only) and pass its instance role (to EC2 only).
  statement {
    sid     = "LaunchFromThisTemplateOnly"
    actions = ["ec2:RunInstances"]
    resources = [
      local.launch_template_arn,
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:volume/*",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/${aws_security_group.app.id}",
      "arn:${local.partition}:ec2:${local.region}::image/${local.ami_id}",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:subnet/*",
    ]

    condition {
      test     = "ArnLike"
      variable = "ec2:LaunchTemplate"
      values   = [local.launch_template_arn]
    }
  }

  statement {
    sid     = "TagAtLaunchOnly"
    actions = ["ec2:CreateTags"]
    resources = [
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:volume/*",
    ]

    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["RunInstances"]
    }
  }

  statement {
    sid       = "PassInstanceRoleToEc2"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.app.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }

  statement {
    sid       = "RefreshTheGroup"
    actions   = ["autoscaling:StartInstanceRefresh", "autoscaling:CancelInstanceRefresh"]
    resources = [local.app_asg_arn]
  }

  statement {
    sid       = "ReadRollbackAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = [aws_cloudwatch_metric_alarm.target_5xx.arn, aws_cloudwatch_metric_alarm.unhealthy_hosts.arn]
  }

  statement {
    sid = "DescribeWithoutResourceLevelPermissions"
    actions = [
      "ec2:DescribeLaunchTemplates",
      "ec2:DescribeLaunchTemplateVersions",
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeInstanceRefreshes",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "WriteDeployLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.pipeline["deploy"].arn}:*"]
  }
}

resource "aws_iam_role_policy" "pipeline_deploy" {
  count = local.pipeline

  name   = "newsread-pipeline-deploy"
  role   = aws_iam_role.pipeline_deploy[0].id
  policy = data.aws_iam_policy_document.pipeline_deploy[0].json
}

data "aws_iam_policy_document" "pipeline_trigger" {
  count = local.pipeline_s3

  statement {
    sid       = "StartThisPipeline"
    actions   = ["codepipeline:StartPipelineExecution"]
    resources = [local.pipeline_arn]
  }
}

resource "aws_iam_role_policy" "pipeline_trigger" {
  count = local.pipeline_s3

  name   = "newsread-pipeline-trigger"
  role   = aws_iam_role.pipeline_trigger[0].id
  policy = data.aws_iam_policy_document.pipeline_trigger[0].json
}

# -------------------------------------------------------------- projects ---

resource "aws_codebuild_project" "build" {
  count = local.pipeline

  name           = local.pipeline_build
  description    = "NewsRead: checks, tests without services, release binary (buildspec.yml)"
  service_role   = aws_iam_role.pipeline_build[0].arn
  encryption_key = aws_kms_key.main.arn
  build_timeout  = 90
  queued_timeout = 60

  source {
    type      = "CODEPIPELINE"
    buildspec = "buildspec.yml"
  }

  artifacts {
    type = "CODEPIPELINE"
  }

  # ~/.cargo and target/ between builds (buildspec.yml cache paths),
  # encrypted with the project's key like every artifact.
  cache {
    type     = "S3"
    location = "${aws_s3_bucket.pipeline[0].id}/cache/build"
  }

  environment {
    compute_type                = var.pipeline_build_compute_type
    image                       = var.architecture == "arm64" ? "aws/codebuild/amazonlinux-aarch64-standard:3.0" : "aws/codebuild/standard:7.0"
    type                        = var.architecture == "arm64" ? "ARM_CONTAINER" : "LINUX_CONTAINER"
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = false

    environment_variable {
      name  = "NEWSREAD_RUST_TARGET"
      value = local.rust_target
    }
  }

  logs_config {
    cloudwatch_logs {
      status     = "ENABLED"
      group_name = aws_cloudwatch_log_group.pipeline["build"].name
    }

    s3_logs {
      status = "DISABLED"
    }
  }
}

resource "aws_codebuild_project" "deploy" {
  count = local.pipeline

  name           = local.pipeline_ship
  description    = "NewsRead: release the built binary to the fleet (deploy/aws/release-to-fleet)"
  service_role   = aws_iam_role.pipeline_deploy[0].arn
  encryption_key = aws_kms_key.main.arn
  # Checkpoints pause the refresh; the whole fleet at the largest size must
  # fit with time to spare (docs/deploy-aws.md, Releasing).
  build_timeout  = 180
  queued_timeout = 60

  source {
    type = "CODEPIPELINE"
    buildspec = yamlencode({
      version = "0.2"
      env     = { shell = "bash" }
      phases = {
        install = {
          commands = [
            "curl -fsSL -o /tmp/terraform.zip https://releases.hashicorp.com/terraform/${local.deploy_terraform_version}/terraform_${local.deploy_terraform_version}_linux_amd64.zip",
            "echo '${local.deploy_terraform_sha256}  /tmp/terraform.zip' | sha256sum --check --strict",
            "unzip -o -q /tmp/terraform.zip terraform -d /usr/local/bin",
          ]
        }
        build = {
          commands = ["python3 deploy/aws/release-to-fleet dist/newsread-${local.rust_target}"]
        }
      }
    })
  }

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    compute_type                = "BUILD_GENERAL1_SMALL"
    image                       = "aws/codebuild/standard:7.0"
    type                        = "LINUX_CONTAINER"
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = false

    dynamic "environment_variable" {
      for_each = {
        NEWSREAD_RELEASE_BUCKET          = aws_s3_bucket.artifacts.id
        NEWSREAD_RELEASE_KEY             = local.pipeline_release_key
        NEWSREAD_KMS_KEY_ARN             = aws_kms_key.main.arn
        NEWSREAD_RELEASE_PARAMETER       = local.release_parameter
        NEWSREAD_LAUNCH_TEMPLATE_ID      = aws_launch_template.app.id
        NEWSREAD_ASG_NAME                = local.app_asg_name
        NEWSREAD_REFRESH_PREFERENCES     = jsonencode(local.refresh_preferences)
        NEWSREAD_REFRESH_TIMEOUT_SECONDS = 170 * 60
      }

      content {
        name  = environment_variable.key
        value = environment_variable.value
      }
    }
  }

  logs_config {
    cloudwatch_logs {
      status     = "ENABLED"
      group_name = aws_cloudwatch_log_group.pipeline["deploy"].name
    }

    s3_logs {
      status = "DISABLED"
    }
  }
}

# -------------------------------------------------------------- pipeline ---

resource "aws_codepipeline" "release" {
  count = local.pipeline

  name     = local.pipeline_name
  role_arn = aws_iam_role.pipeline[0].arn
  # V2, queued: every merged commit is released, one at a time, in order.
  pipeline_type  = "V2"
  execution_mode = "QUEUED"

  artifact_store {
    location = aws_s3_bucket.pipeline[0].id
    type     = "S3"

    encryption_key {
      id   = aws_kms_key.main.arn
      type = "KMS"
    }
  }

  stage {
    name = "Source"

    dynamic "action" {
      for_each = var.pipeline_source == "s3" ? [1] : []

      content {
        name             = "Source"
        category         = "Source"
        owner            = "AWS"
        provider         = "S3"
        version          = "1"
        output_artifacts = ["source"]

        configuration = {
          S3Bucket             = aws_s3_bucket.pipeline[0].id
          S3ObjectKey          = local.pipeline_source_key
          PollForSourceChanges = "false"
        }
      }
    }

    dynamic "action" {
      for_each = var.pipeline_source == "codestar" ? [1] : []

      content {
        name             = "Source"
        category         = "Source"
        owner            = "AWS"
        provider         = "CodeStarSourceConnection"
        version          = "1"
        output_artifacts = ["source"]

        configuration = {
          ConnectionArn        = aws_codestarconnections_connection.source[0].arn
          FullRepositoryId     = var.pipeline_repository
          BranchName           = var.pipeline_branch
          OutputArtifactFormat = "CODE_ZIP"
          DetectChanges        = "true"
        }
      }
    }
  }

  stage {
    name = "Build"

    action {
      name             = "Build"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = ["source"]
      output_artifacts = ["release"]

      configuration = {
        ProjectName = aws_codebuild_project.build[0].name
      }
    }
  }

  stage {
    name = "Deploy"

    action {
      name            = "Deploy"
      category        = "Build"
      owner           = "AWS"
      provider        = "CodeBuild"
      version         = "1"
      input_artifacts = ["release"]

      configuration = {
        ProjectName = aws_codebuild_project.deploy[0].name
      }
    }
  }

  depends_on = [
    aws_iam_role_policy.pipeline,
    aws_iam_role_policy.pipeline_build,
    aws_iam_role_policy.pipeline_deploy,
  ]
}

# S3 source: an upload of source/newsread.zip starts a run.
resource "aws_cloudwatch_event_rule" "pipeline_source" {
  count = local.pipeline_s3

  name        = "${local.prefix}-pipeline-source"
  description = "Start ${local.pipeline_name} when a new source zip is uploaded"
  event_pattern = jsonencode({
    source      = ["aws.s3"]
    detail-type = ["Object Created"]
    detail = {
      bucket = { name = [aws_s3_bucket.pipeline[0].id] }
      object = { key = [local.pipeline_source_key] }
    }
  })
}

resource "aws_cloudwatch_event_target" "pipeline_source" {
  count = local.pipeline_s3

  rule     = aws_cloudwatch_event_rule.pipeline_source[0].name
  arn      = aws_codepipeline.release[0].arn
  role_arn = aws_iam_role.pipeline_trigger[0].arn
}
