"""Delivery: the image repository (replicated to every region) and the pipeline that tests, builds and deploys."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import pipelines
from constructs import Construct

from .config import DeployConfig
from .edge import GlobalStack
from .regional import RegionalStack
from .services import migrate_role_names

BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
DEPLOY_DIR = "deploy/aws"


def synthesizer() -> cdk.DefaultStackSynthesizer:
    """The default bootstrap roles, named in the `aws` partition (the pipeline's actions then need no Fn::Join)."""
    prefix = "arn:aws:iam::${AWS::AccountId}:role/cdk-${Qualifier}"
    suffix = "${AWS::AccountId}-${AWS::Region}"
    return cdk.DefaultStackSynthesizer(
        cloud_formation_execution_role=f"{prefix}-cfn-exec-role-{suffix}",
        deploy_role_arn=f"{prefix}-deploy-role-{suffix}",
        file_asset_publishing_role_arn=f"{prefix}-file-publishing-role-{suffix}",
        image_asset_publishing_role_arn=f"{prefix}-image-publishing-role-{suffix}",
        lookup_role_arn=f"{prefix}-lookup-role-{suffix}",
    )


class ProductionStage(cdk.Stage):
    """The global stack, then every region's stack, one after another (the primary first)."""

    def __init__(self, scope: Construct, construct_id: str, *, cfg: DeployConfig) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(account=cfg.account, region=cfg.primary))
        self.global_stack = GlobalStack(self, f"{cfg.name}-global", cfg=cfg, synthesizer=synthesizer())
        # only the primary's bucket is a CloudFront origin (/files/*), and only with signed attachment URLs
        distribution_arn = self.global_stack.distribution.distribution_arn if cfg.attachments_public_key_pem else None
        self.regionals: dict[str, RegionalStack] = {}
        primary = previous = None
        for region in cfg.regions:
            stack = RegionalStack(self, f"{cfg.name}-{region}", cfg=cfg, region=region, primary=primary,
                                  distribution_arn=None if primary else distribution_arn, synthesizer=synthesizer())
            stack.add_stack_dependency(previous or self.global_stack,
                                       "regions deploy one after another, after the CDN and health topic they use")
            primary = primary or stack
            previous = stack
            self.regionals[region] = stack


class DeliveryStack(cdk.Stack):
    """ECR with cross-region replication and a CDK pipeline: test, synth, build and push, migrate, deploy."""

    def __init__(self, scope: Construct, construct_id: str, *, cfg: DeployConfig) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(account=cfg.account, region=cfg.primary),
                         description="Orbitask delivery: image repository and pipeline")
        self.repository = ecr.Repository(
            self, "Images", repository_name=cfg.name, image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE, removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[ecr.LifecycleRule(max_image_count=100, description="keep the last 100 builds")],
        )
        ecr.CfnReplicationConfiguration(self, "ImageReplication", replication_configuration=(
            ecr.CfnReplicationConfiguration.ReplicationConfigurationProperty(rules=[
                ecr.CfnReplicationConfiguration.ReplicationRuleProperty(
                    destinations=[ecr.CfnReplicationConfiguration.ReplicationDestinationProperty(
                        region=r, registry_id=cfg.account) for r in cfg.secondaries],
                    repository_filters=[ecr.CfnReplicationConfiguration.RepositoryFilterProperty(
                        filter=cfg.name, filter_type="PREFIX_MATCH")],
                ),
            ])))
        source = pipelines.CodePipelineSource.connection(
            cfg.source_repository, cfg.source_branch, connection_arn=cfg.source_connection_arn,
        )
        self.pipeline = pipelines.CodePipeline(
            self, "Pipeline", pipeline_name=cfg.name, cross_account_keys=False,
            code_build_defaults=pipelines.CodeBuildOptions(build_environment=codebuild.BuildEnvironment(
                build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.LARGE,
            )),
            synth=pipelines.ShellStep(
                "TestAndSynth", input=source,
                commands=[
                    "make test",  # every test CI runs, with MariaDB, PostgreSQL and Redis started on the build host
                    f"cd {DEPLOY_DIR} && ../../.venv/bin/python app.py --image-tag \"$CODEBUILD_RESOLVED_SOURCE_VERSION\"",
                ],
                primary_output_directory=f"{DEPLOY_DIR}/cdk.out",
            ),
        )
        self.stage = ProductionStage(self, "Production", cfg=cfg)
        script_env = {"ORBITASK_NAME": cfg.name, "ORBITASK_GLOBAL_CLUSTER": cfg.global_cluster_id,
                      "ORBITASK_REGIONS": " ".join(cfg.regions), "ORBITASK_REPOSITORY": self.repository.repository_uri}
        build = pipelines.CodeBuildStep(
            "BuildImage", input=source, env=script_env,
            build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE, privileged=True),
            commands=[f"bash {DEPLOY_DIR}/scripts/push-image.sh \"$CODEBUILD_RESOLVED_SOURCE_VERSION\""],
            role_policy_statements=[
                iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(
                    actions=["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                             "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:DescribeImages"],
                    resources=[f"arn:aws:ecr:*:{cfg.account}:repository/{cfg.name}"],
                ),
            ],
        )

        def migrate(step_id: str) -> pipelines.CodeBuildStep:
            return pipelines.CodeBuildStep(
                step_id, input=source, env=script_env,
                commands=[f"bash {DEPLOY_DIR}/scripts/migrate.sh \"$CODEBUILD_RESOLVED_SOURCE_VERSION\""],
                role_policy_statements=[
                    iam.PolicyStatement(actions=["rds:DescribeGlobalClusters", "ecs:DescribeTaskDefinition",
                                                 "ecs:RegisterTaskDefinition", "ecs:DescribeTasks"], resources=["*"]),
                    iam.PolicyStatement(actions=["ecs:RunTask"], resources=[
                        f"arn:aws:ecs:*:{cfg.account}:task-definition/{cfg.name}-migrate:*"]),
                    iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[
                        f"arn:aws:ssm:*:{cfg.account}:parameter/{cfg.name}/migrate"]),
                    iam.PolicyStatement(actions=["iam:PassRole"], resources=[
                        f"arn:aws:iam::{cfg.account}:role/{role}"
                        for region in cfg.regions for role in migrate_role_names(cfg, region)
                    ], conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
                ],
            )

        # migrations run in the writer region before the new tasks start (expand first, contract a release later);
        # the second run applies them on a first deployment, when the migration task did not exist yet
        pre_migrate = migrate("Migrate")
        pre_migrate.add_step_dependency(build)
        publish = pipelines.CodeBuildStep(
            "PublishWeb", input=source, env={"ORBITASK_GLOBAL_STACK": self.stage.global_stack.stack_name},
            commands=[f"bash {DEPLOY_DIR}/scripts/publish-web.sh"],
            role_policy_statements=[
                iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[
                    f"arn:aws:cloudformation:us-east-1:{cfg.account}:stack/{self.stage.global_stack.stack_name}/*"]),
                iam.PolicyStatement(actions=["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                                    resources=[f"arn:aws:s3:::{cfg.web_bucket_name}",
                                               f"arn:aws:s3:::{cfg.web_bucket_name}/*"]),
                iam.PolicyStatement(actions=["cloudfront:CreateInvalidation"],
                                    resources=[f"arn:aws:cloudfront::{cfg.account}:distribution/*"]),
            ],
        )
        after = migrate("MigrateAfterDeploy")
        publish.add_step_dependency(after)
        self.pipeline.add_stage(self.stage, pre=[build, pre_migrate], post=[after, publish])
