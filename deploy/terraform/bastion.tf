# Optional bastion (enable_bastion, off by default): a small instance in a
# private subnet with no public IP and no inbound rule, reached only through
# SSM Session Manager, used for port forwarding to the database. Its role has
# SSM access only, no secret and no artifact access.

resource "aws_security_group" "bastion" {
  count = var.enable_bastion ? 1 : 0

  name        = "${local.prefix}-bastion"
  description = "NewsRead SSM bastion: no inbound rules; HTTPS to SSM, database port to RDS"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${local.prefix}-bastion" }
}

resource "aws_vpc_security_group_egress_rule" "bastion_https" {
  count = var.enable_bastion ? 1 : 0

  security_group_id = aws_security_group.bastion[0].id
  description       = "HTTPS to the SSM endpoints through the NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "bastion_to_db" {
  count = var.enable_bastion ? 1 : 0

  security_group_id            = aws_security_group.bastion[0].id
  description                  = "Database port for SSM port forwarding"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_bastion" {
  count = var.enable_bastion ? 1 : 0

  security_group_id            = aws_security_group.db.id
  description                  = "Database port from the SSM bastion (operators only)"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = aws_security_group.bastion[0].id
}

resource "aws_iam_role" "bastion" {
  count = var.enable_bastion ? 1 : 0

  name               = "${local.prefix}-bastion"
  description        = "NewsRead SSM bastion: Session Manager only"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

# Session Manager only (iam.tf, ssm_agent): no parameter or secret access.
resource "aws_iam_role_policy" "bastion_ssm" {
  count = var.enable_bastion ? 1 : 0

  name   = "ssm-agent"
  role   = aws_iam_role.bastion[0].id
  policy = data.aws_iam_policy_document.ssm_agent.json
}

resource "aws_iam_instance_profile" "bastion" {
  count = var.enable_bastion ? 1 : 0

  name = "${local.prefix}-bastion"
  role = aws_iam_role.bastion[0].name
}

resource "aws_instance" "bastion" {
  count = var.enable_bastion ? 1 : 0

  ami                         = local.ami_id
  instance_type               = var.architecture == "arm64" ? "t4g.nano" : "t3.nano"
  subnet_id                   = aws_subnet.private_app[0].id
  vpc_security_group_ids      = [aws_security_group.bastion[0].id]
  iam_instance_profile        = aws_iam_instance_profile.bastion[0].name
  associate_public_ip_address = false
  ebs_optimized               = true
  monitoring                  = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 8
    encrypted   = true
  }

  tags = { Name = "${local.prefix}-bastion" }

  lifecycle {
    ignore_changes = [ami]
  }
}
