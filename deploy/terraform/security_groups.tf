# Security groups chained tier by tier. Rules are separate resources, each
# with a description. Only the load balancer takes traffic from outside the
# VPC, and only on 80/443; every other ingress names a source security group.
# There is no SSH rule anywhere: operators use SSM Session Manager.

resource "aws_security_group" "alb" {
  name        = "${local.prefix}-alb"
  description = "NewsRead ALB: HTTP/HTTPS from viewers or CloudFront, to the app port"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${local.prefix}-alb" }
}

resource "aws_security_group" "app" {
  name        = "${local.prefix}-app"
  description = "NewsRead app servers: app port from the ALB only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${local.prefix}-app" }
}

resource "aws_security_group" "db" {
  name        = "${local.prefix}-db"
  description = "NewsRead RDS: database port from the app tier only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${local.prefix}-db" }
}

resource "aws_security_group" "efs" {
  name        = "${local.prefix}-efs"
  description = "NewsRead EFS mount targets: NFS from the app tier only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${local.prefix}-efs" }
}

# ------------------------------------------------------------------ ALB ---

data "aws_ec2_managed_prefix_list" "cloudfront" {
  count = local.alb_from_cloudfront ? 1 : 0

  name = "com.amazonaws.global.cloudfront.origin-facing"
}

# With a domain (default): HTTPS from CloudFront's origin-facing addresses only.
resource "aws_vpc_security_group_ingress_rule" "alb_https_from_cloudfront" {
  count = local.alb_from_cloudfront ? 1 : 0

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from CloudFront origin-facing servers"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = data.aws_ec2_managed_prefix_list.cloudfront[0].id
}

# With a domain but alb_restrict_to_cloudfront = false.
resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = local.edge_enabled && !local.alb_from_cloudfront ? toset(var.alb_ingress_cidrs) : toset([])

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from allowed viewers (the origin header rule still rejects non-CloudFront requests)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

# HTTP: redirected to HTTPS when there is a domain; the trial listener otherwise.
resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each = local.alb_from_cloudfront ? toset([]) : toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP from allowed viewers (redirect to HTTPS, or trial mode without a domain)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_app" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the app port on the app servers"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = aws_security_group.app.id
}

# ------------------------------------------------------------------ app ---

resource "aws_vpc_security_group_ingress_rule" "app_from_alb" {
  security_group_id            = aws_security_group.app.id
  description                  = "App port (traffic and /readyz health checks) from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "app_https" {
  security_group_id = aws_security_group.app.id
  description       = "HTTPS to AWS APIs (S3, Secrets Manager, SSM, CloudWatch) and news APIs, through the NAT or the S3 endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "app_http" {
  security_group_id = aws_security_group.app.id
  description       = "HTTP to the Ubuntu archive (signed packages: nfs-common if missing) and HTTP-only news APIs"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "app_to_db" {
  security_group_id            = aws_security_group.app.id
  description                  = "To the database port"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_vpc_security_group_egress_rule" "app_to_efs" {
  security_group_id            = aws_security_group.app.id
  description                  = "NFS to the EFS mount targets"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.efs.id
}

# ------------------------------------------------------------ data tier ---

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "Database port from the app servers"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = aws_security_group.app.id
}

resource "aws_vpc_security_group_ingress_rule" "efs_from_app" {
  security_group_id            = aws_security_group.efs.id
  description                  = "NFS from the app servers"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.app.id
}
