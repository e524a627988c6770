# Shared data sources and locals.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Zones come from the region itself; nothing is hard-coded. Only zones that
# need no opt-in (no Local/Wavelength zones) are used.
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Zones must come from whichever region is chosen (no region or zone is hard-coded), so they cannot be allow-listed here; only the first three names are used, and a zone AWS adds later sorts after them, so the VPC's zones never change.
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

# Canonical publishes the current Ubuntu 24.04 LTS AMI of each architecture in
# a public SSM parameter in every region. Ubuntu 24.04 has glibc 2.39, newer
# than the 2.36 of the Debian 12 host that builds the binary (Amazon Linux
# 2023 has 2.34 and could not run it). Read only when ami_id is not set.
data "aws_ssm_parameter" "ubuntu_ami" {
  count = var.ami_id == null ? 1 : 0

  name = "/aws/service/canonical/ubuntu/server/24.04/stable/current/${local.ubuntu_arch}/hvm/ebs-gp3/ami-id"
}

# The AMI is resolved once and kept in state: a new image that Canonical
# publishes does not roll the fleet on the next apply. It changes only on
# purpose, by bumping ami_generation (re-resolves the parameter) or by setting
# ami_id (docs/deploy-aws.md, "Updating the AMI").
resource "terraform_data" "ami" {
  count = var.ami_id == null ? 1 : 0

  input            = data.aws_ssm_parameter.ubuntu_ami[0].insecure_value
  triggers_replace = [var.ami_generation, local.ubuntu_arch]

  lifecycle {
    ignore_changes = [input]
  }
}

locals {
  prefix     = "${var.name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  common_tags = merge(var.tags, {
    Project     = var.name
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  # Exactly three zones: the architecture (and the policy tests) assume three.
  azs = slice(data.aws_availability_zones.available.names, 0, 3)

  # Edge mode: a domain turns on ACM, CloudFront, Route 53 and HTTPS on the
  # ALB. Without it the ALB answers HTTP on its own name (trials only).
  edge_enabled        = var.domain_name != ""
  alb_from_cloudfront = local.edge_enabled && var.alb_restrict_to_cloudfront
  origin_fqdn         = "origin.${var.domain_name}"
  origin_header_name  = "X-NewsRead-Origin-Verify"

  # Architecture selects the AMI and the default instance types.
  ubuntu_arch = var.architecture == "arm64" ? "arm64" : "amd64"
  # Non-burstable by default: the group scales at 50% CPU, a level a t3/t4g
  # .small only sustains on paid surplus credits (docs/deploy-aws.md, cost).
  app_instance_type = coalesce(var.app_instance_type, var.architecture == "arm64" ? "c7g.medium" : "c7a.medium")
  app_burstable     = can(regex("^t[0-9]", local.app_instance_type))
  ami_id            = var.ami_id != null ? var.ami_id : terraform_data.ami[0].output

  # App contract.
  shared_dir        = "/mnt/newsread-shared"
  metrics_listen    = "127.0.0.1:9464"
  app_log_file      = "/var/log/newsread/app.log"
  timeout_stop_secs = var.alb_deregistration_delay_seconds + var.app_shutdown_grace_seconds + 15
}
