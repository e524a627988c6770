# App logs reach CloudWatch without building or downloading anything from
# user data: newsread logs JSON to stdout (journald); rsyslog, part of the
# Ubuntu image, copies the newsread lines to /var/log/newsread/app.log; the
# CloudWatch agent tails that file. The agent itself is the AWS-signed
# AmazonCloudWatchAgent package, installed and configured by Systems Manager
# State Manager through the SSM agent that Ubuntu's AMIs already run.

locals {
  agent_metrics_namespace = "NewsRead/Agent"
}

resource "aws_ssm_parameter" "cloudwatch_agent" {
  #checkov:skip=CKV2_AWS_34:This is the CloudWatch agent configuration (file path and log group name), not a secret; a SecureString would only add a KMS grant for the agent.
  name        = "/${var.name}/${var.environment}/cloudwatch-agent"
  description = "CloudWatch agent configuration for the NewsRead app servers"
  type        = "String"
  tier        = "Standard"
  value = jsonencode({
    agent = {
      metrics_collection_interval = 60
    }
    logs = {
      logs_collected = {
        files = {
          collect_list = [
            {
              file_path       = local.app_log_file
              log_group_name  = aws_cloudwatch_log_group.app.name
              log_stream_name = "{instance_id}"
              timezone        = "UTC"
            },
          ]
        }
      }
    }
    metrics = {
      namespace = local.agent_metrics_namespace
      append_dimensions = {
        InstanceId = "$${aws:InstanceId}"
      }
      metrics_collected = {
        mem = {
          measurement = ["mem_used_percent"]
        }
        disk = {
          measurement = ["used_percent"]
          resources   = ["/"]
        }
      }
    }
  })
}

resource "aws_ssm_document" "cloudwatch_agent" {
  name            = "${local.prefix}-cloudwatch-agent"
  document_type   = "Command"
  document_format = "JSON"
  content = jsonencode({
    schemaVersion = "2.2"
    description   = "Install the AmazonCloudWatchAgent package and load the NewsRead configuration from Parameter Store."
    mainSteps = [
      {
        action = "aws:runDocument"
        name   = "installCloudWatchAgent"
        inputs = {
          documentType       = "SSMDocument"
          documentPath       = "AWS-ConfigureAWSPackage"
          documentParameters = jsonencode({ action = "Install", name = "AmazonCloudWatchAgent" })
        }
      },
      {
        action = "aws:runDocument"
        name   = "configureCloudWatchAgent"
        inputs = {
          documentType = "SSMDocument"
          documentPath = "AmazonCloudWatch-ManageAgent"
          documentParameters = jsonencode({
            action                        = "configure"
            mode                          = "ec2"
            optionalConfigurationSource   = "ssm"
            optionalConfigurationLocation = aws_ssm_parameter.cloudwatch_agent.name
            optionalRestart               = "yes"
          })
        }
      },
    ]
  })
}

# Runs on every new app instance as it registers with SSM, and daily after
# that to repair drift.
resource "aws_ssm_association" "cloudwatch_agent" {
  name                = aws_ssm_document.cloudwatch_agent.name
  association_name    = "${local.prefix}-cloudwatch-agent"
  schedule_expression = "rate(1 day)"
  max_concurrency     = "50%"
  max_errors          = "50%"
  compliance_severity = "MEDIUM"

  targets {
    key    = "tag:NewsreadDeployment"
    values = ["${local.prefix}-app"]
  }
}
