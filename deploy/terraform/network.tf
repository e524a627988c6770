# VPC over three zones: public subnets (ALB, NAT gateways), private app
# subnets (Auto Scaling group), private data subnets (RDS, EFS mount targets;
# no route to the internet at all).

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = "${local.prefix}-vpc" }

  lifecycle {
    precondition {
      condition     = length(data.aws_availability_zones.available.names) >= 3
      error_message = "The region must offer at least three availability zones without opt-in."
    }
  }
}

# The default security group of the VPC is left with no rules at all so that
# nothing can use it by accident.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${local.prefix}-default-deny" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${local.prefix}-igw" }
}

# The VPC is cut into 16 equal blocks: block 0 is split again for the three
# public subnets (/24 each in a /16), blocks 1-3 are the app subnets (/20 each
# in a /16) and blocks 8-10 the data subnets; the rest is left for growth.
resource "aws_subnet" "public" {
  count = 3

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(cidrsubnet(var.vpc_cidr, 4, 0), 4, count.index)
  map_public_ip_on_launch = false

  tags = { Name = "${local.prefix}-public-${local.azs[count.index]}", Tier = "public" }
}

resource "aws_subnet" "private_app" {
  count = 3

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, 1 + count.index)

  tags = { Name = "${local.prefix}-app-${local.azs[count.index]}", Tier = "app" }
}

resource "aws_subnet" "private_data" {
  count = 3

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, 8 + count.index)

  tags = { Name = "${local.prefix}-data-${local.azs[count.index]}", Tier = "data" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${local.prefix}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = 3

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# NAT: one per zone by default, or a single one (var.single_nat_gateway).
resource "aws_eip" "nat" {
  count = var.single_nat_gateway ? 1 : 3

  domain = "vpc"

  tags = { Name = "${local.prefix}-nat-${local.azs[count.index]}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = var.single_nat_gateway ? 1 : 3

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = { Name = "${local.prefix}-nat-${local.azs[count.index]}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "private_app" {
  count = 3

  vpc_id = aws_vpc.this.id

  tags = { Name = "${local.prefix}-app-${local.azs[count.index]}" }
}

resource "aws_route" "private_app_nat" {
  count = 3

  route_table_id         = aws_route_table.private_app[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
}

resource "aws_route_table_association" "private_app" {
  count = 3

  subnet_id      = aws_subnet.private_app[count.index].id
  route_table_id = aws_route_table.private_app[count.index].id
}

# Data subnets: local routes only.
resource "aws_route_table" "private_data" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${local.prefix}-data" }
}

resource "aws_route_table_association" "private_data" {
  count = 3

  subnet_id      = aws_subnet.private_data[count.index].id
  route_table_id = aws_route_table.private_data.id
}

# S3 gateway endpoint (free): artifact downloads and S3 traffic skip the NAT.
# Its policy allows only what the app subnets need from S3 in this region:
#   - the app role reading releases from the artifact bucket;
#   - the SSM and CloudWatch agents reading AWS's own regional buckets
#     (agent updates, Distributor packages such as AmazonCloudWatchAgent);
#   - reading objects of other accounts' buckets (news images hosted on S3);
# no write, no list, nothing else of this account's buckets.
data "aws_iam_policy_document" "s3_endpoint" {
  #checkov:skip=CKV_AWS_283:A gateway endpoint policy filters requests from the VPC; Principal "*" is limited to GetObject on AWS-owned agent buckets and, by s3:ResourceAccount, on other accounts' objects; this account's buckets are readable only by the app role, and only releases/.
  statement {
    sid       = "AppReadsReleases"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [local.artifact_prefix_arn]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.app.arn]
    }
  }

  statement {
    sid     = "AgentsReadAwsOwnedBuckets"
    actions = ["s3:GetObject"]
    resources = [
      "arn:${local.partition}:s3:::amazon-ssm-${local.region}/*",
      "arn:${local.partition}:s3:::amazon-ssm-packages-${local.region}/*",
      "arn:${local.partition}:s3:::aws-ssm-${local.region}/*",
      "arn:${local.partition}:s3:::aws-ssm-document-attachments-${local.region}/*",
      "arn:${local.partition}:s3:::${local.region}-birdwatcher-prod/*",
      "arn:${local.partition}:s3:::aws-ssm-distributor-file-${local.region}/*",
      "arn:${local.partition}:s3:::amazoncloudwatch-agent-${local.region}/*",
    ]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
  }

  statement {
    sid       = "ReadOtherAccountsObjects"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::*/*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEquals"
      variable = "s3:ResourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private_app[*].id
  policy            = data.aws_iam_policy_document.s3_endpoint.json

  tags = { Name = "${local.prefix}-s3" }
}

# ------------------------------------------------------------- flow logs ---

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/aws/vpc/${local.prefix}/flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${local.prefix}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    sid       = "WriteFlowLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "vpc" {
  vpc_id                   = aws_vpc.this.id
  traffic_type             = "ALL"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn             = aws_iam_role.flow_logs.arn
  max_aggregation_interval = 600

  tags = { Name = "${local.prefix}-vpc" }
}
