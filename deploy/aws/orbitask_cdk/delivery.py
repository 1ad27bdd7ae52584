"""Delivery: the image repository (replicated to every region) and the pipeline that checks, stages and deploys."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import pipelines
from constructs import Construct

from . import nag
from .config import DeployConfig, parse
from .edge import GlobalStack
from .regional import RegionalStack
from .services import migrate_role_names

BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
# the image's runtimes (deploy/docker/Dockerfile): every build of the pipeline runs on these, never the image's latest
RUNTIMES = {"python": "3.11", "nodejs": "20"}
CDK_CLI_VERSION = "2.1145.0"  # the CLI aws-cdk-lib 2.275.0 (pyproject.toml) is developed against
CDK_ASSETS_VERSION = "4.7.3"
DEPLOY_DIR = "deploy/aws"
BUILDSPEC_DIR = f"{DEPLOY_DIR}/buildspec"
COMMIT = '"$CODEBUILD_RESOLVED_SOURCE_VERSION"'
# a prefix, not a suffix: production's `<name>-*` grants and ECR's replication filter do not reach staging's names
STAGING_PREFIX = "stg-"
STAGING_KEEPS = ("account", "hosted_zone_id", "hosted_zone_name", "alarm_email", "monthly_budget_usd",
                 "source_repository", "source_branch", "source_connection_arn", "image_tag", "smtp_host", "smtp_port",
                 "smtp_security", "attachments_public_key_pem")
# each region's alarms (ops.py) that must stay quiet through a production wave's bake time
BAKE_ALARMS = ("5xx", "latency-p99", "replication-lag", "failover-errors")
BAKE_MINUTES = 15


def implied(value: object) -> set[str]:
    """The logical ids a resolved template value names by Ref or Fn::GetAtt."""
    if isinstance(value, dict):
        named = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
        if isinstance(value.get("Fn::GetAtt"), list):
            named.add(value["Fn::GetAtt"][0])
        return named.union(*(implied(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(implied(v) for v in value))
    return set()


def drop_implied_dependencies(stack: cdk.Stack) -> None:
    """Drop each DependsOn that the resource's own Ref or GetAtt of the same resource already implies.

    CDK writes them (a Lambda on its role, the pipeline on its role, the custom resource providers CDK adds while
    synthesising, so no construct code can reach them) and cfn-lint warns on each (W3005).
    """
    for construct in stack.node.find_all():  # the delivery stack's include its stages': skipped by path
        if not cdk.CfnResource.is_cfn_resource(construct) or cdk.Stack.of(construct).node.path != stack.node.path:
            continue
        resource: cdk.CfnResource = construct  # type: ignore[assignment]
        dependencies = [d for d in resource.obtain_dependencies() if cdk.CfnResource.is_cfn_resource(d)]
        if not dependencies:
            continue
        named = implied(stack.resolve(resource._cfn_properties))
        for dependency in dependencies:
            if stack.resolve(dependency.logical_id) in named:  # type: ignore[union-attr]
                resource.remove_resource_dependency(dependency)  # type: ignore[arg-type]


class Synthesizer(cdk.DefaultStackSynthesizer):
    """The default synthesizer, which first drops the DependsOn the template's references imply (after CDK's
    preparation, the last moment before the template is written)."""

    def bind(self, stack: cdk.Stack) -> None:
        super().bind(stack)
        self.stack = stack

    def synthesize(self, session: cdk.ISynthesisSession) -> None:
        drop_implied_dependencies(self.stack)
        super().synthesize(session)


def synthesizer() -> cdk.DefaultStackSynthesizer:
    """The default bootstrap roles, the deploying ones named in the `aws` partition (the pipeline's actions then
    need no Fn::Join); the asset roles keep the partition variable (the pipeline names them through Fn::Sub)."""
    account = "iam::${AWS::AccountId}:role/cdk-${Qualifier}"
    suffix = "${AWS::AccountId}-${AWS::Region}"
    return Synthesizer(
        cloud_formation_execution_role=f"arn:aws:{account}-cfn-exec-role-{suffix}",
        deploy_role_arn=f"arn:aws:{account}-deploy-role-{suffix}",
        file_asset_publishing_role_arn=f"arn:${{AWS::Partition}}:{account}-file-publishing-role-{suffix}",
        image_asset_publishing_role_arn=f"arn:${{AWS::Partition}}:{account}-image-publishing-role-{suffix}",
        lookup_role_arn=f"arn:aws:{account}-lookup-role-{suffix}",
    )


def staging_config(cfg: DeployConfig) -> DeployConfig:
    """Staging: the demo profile in CFG's primary region alone, under its own names and domains."""
    raw = {key: getattr(cfg, key) for key in STAGING_KEEPS}
    return parse({**raw, "name": f"{STAGING_PREFIX}{cfg.name}", "profile": "demo", "regions": [cfg.primary],
                  "domain": f"staging.{cfg.domain}", "api_domain": f"staging.{cfg.api_domain}",
                  "replicate_attachments": False})


def bake_alarm_names(cfg: DeployConfig, region: str) -> list[str]:
    """The alarms of REGION a wave waits on (ops.py names them `<name>-<region>-<alarm>`)."""
    return [f"{cfg.name}-{region}-{alarm}" for alarm in BAKE_ALARMS]


class AppStage(cdk.Stage):
    """The global stack, then every region's stack, one after another (the primary first)."""

    def __init__(self, scope: Construct, construct_id: str, *, cfg: DeployConfig) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(account=cfg.account, region=cfg.primary))
        self.cfg = cfg
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
        nag.check(self)  # the pipeline synthesises this stage when it is added: the app's checks never reach it


class DeliveryStack(cdk.Stack):
    """ECR with cross-region replication and a CDK pipeline: check and synth, build, staging with a smoke test,
    approval, then production one region at a time with bake time on each region's alarms."""

    def __init__(self, scope: Construct, construct_id: str, *, cfg: DeployConfig) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(account=cfg.account, region=cfg.primary),
                         description="Orbitask delivery: image repository and pipeline", synthesizer=Synthesizer())
        self.cfg = cfg
        self.repository = self.image_repository("Images", cfg.name, keep=100)
        ecr.CfnReplicationConfiguration(self, "ImageReplication", replication_configuration=(
            ecr.CfnReplicationConfiguration.ReplicationConfigurationProperty(rules=[
                ecr.CfnReplicationConfiguration.ReplicationRuleProperty(
                    destinations=[ecr.CfnReplicationConfiguration.ReplicationDestinationProperty(
                        region=r, registry_id=cfg.account) for r in cfg.secondaries],
                    repository_filters=[ecr.CfnReplicationConfiguration.RepositoryFilterProperty(
                        filter=cfg.name, filter_type="PREFIX_MATCH")],
                ),
            ])))
        staging_cfg = staging_config(cfg)
        # the staging services pull `<staging name>:<commit>`: its own repository, in the primary region only
        self.staging_repository = self.image_repository("StagingImages", staging_cfg.name, keep=20)
        self.source = pipelines.CodePipelineSource.connection(
            cfg.source_repository, cfg.source_branch, connection_arn=cfg.source_connection_arn,
        )
        self.pipeline = pipelines.CodePipeline(
            self, "Pipeline", pipeline_name=cfg.name, cross_account_keys=False,
            cli_version=CDK_CLI_VERSION, cdk_assets_cli_version=CDK_ASSETS_VERSION,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE),
                partial_build_spec=codebuild.BuildSpec.from_object({"phases": {"install": {
                    "runtime-versions": RUNTIMES}}}),
            ),
            synth_code_build_defaults=pipelines.CodeBuildOptions(build_environment=codebuild.BuildEnvironment(
                compute_type=codebuild.ComputeType.MEDIUM)),  # two CDK syntheses (tests/deploy, then the app)
            # the deployment checks (tests/deploy, not `make test`: no browser, no database servers), then the app
            synth=pipelines.ShellStep(
                "Synth", input=self.source, commands=[f"bash {BUILDSPEC_DIR}/synth.sh {COMMIT}"],
                primary_output_directory=f"{DEPLOY_DIR}/cdk.out",
            ),
        )
        self.staging = AppStage(self, "Staging", cfg=staging_cfg)
        build = self.build_image(staging_cfg)
        staging_after = self.migrate("MigrateStagingAfterDeploy", staging_cfg)
        self.pipeline.add_stage(
            self.staging, pre=[build, self.migrate("MigrateStaging", staging_cfg, after=build)],
            post=[staging_after, self.smoke_test(staging_cfg, after=staging_after)],
        )
        approval = pipelines.ManualApprovalStep(
            "PromoteToProduction", comment=f"Staging passed its smoke test at https://"
                                           f"{staging_cfg.regional_fqdn(staging_cfg.primary)}: deploy to production?",
        )
        self.pipeline.add_wave("Approval", pre=[approval])
        self.stage = AppStage(self, "Production", cfg=cfg)
        # migrations run where the writer is before the new tasks start (expand first, contract a release later);
        # the run after the deployment applies them on a first deployment, before the migration task existed
        after = self.migrate("MigrateAfterDeploy", cfg)
        publish = self.publish_web()
        publish.add_step_dependency(after)
        self.pipeline.add_stage(
            self.stage, pre=[self.migrate("Migrate", cfg)], post=[after, publish],
            # one region at a time, the primary first: the next region starts only once this one has baked
            stack_steps=[pipelines.StackSteps(stack=stack, post=[self.bake(region)])
                         for region, stack in self.stage.regionals.items()],
        )
        self.pipeline.build_pipeline()  # now, not while synthesising: the acknowledgements below need its resources
        self.nag_findings(staging_cfg)

    def nag_findings(self, staging_cfg: DeployConfig) -> None:
        """The cdk-nag findings on what CDK's pipeline makes, and on the steps' own grants, and why they stay."""
        cfg, pipeline = self.cfg, self.pipeline
        nag.suppress(pipeline, "AwsSolutions-CB4", "CodeBuild encrypts its artifacts with the AWS managed key: one "
                     "account, no cross-account keys (cross_account_keys=False spares a KMS key per region)",
                     children=True)
        nag.suppress(pipeline, "AwsSolutions-S1", "the pipeline's artifacts bucket: only the pipeline and its builds "
                     "use it (CloudTrail records them); access logs would log the pipeline's own traffic",
                     children=True)
        for support in pipeline.pipeline.cross_region_support.values():
            nag.suppress(support.replication_bucket, "AwsSolutions-S1", "the pipeline's artifacts in another region "
                         "(CDK's cross-region support): only the pipeline uses it", children=True)
        nag.suppress(pipeline, "AwsSolutions-IAM5", "CDK's pipeline roles: objects of its own artifact buckets, its "
                     "builds' own log groups and report groups (named after each project), the bootstrap roles "
                     "tagged for publishing and deploying (self-mutation)", applies_to=[
                         "Action::s3:Abort*", "Action::s3:DeleteObject*", "Action::s3:GetBucket*",
                         "Action::s3:GetObject*", "Action::s3:List*",
                         "/^Resource::<PipelineArtifactsBucket[0-9A-F]+\\.Arn>\\/\\*$/",
                         f"/^Resource::arn:aws:s3:::{self.stack_name}-support[a-z0-9]+\\/\\*$/",
                         f"/^Resource::arn:aws:logs:{cfg.primary}:{cfg.account}:log-group:\\/aws\\/codebuild\\/.*$/",
                         f"/^Resource::arn:aws:codebuild:{cfg.primary}:{cfg.account}:report-group\\/.*$/",
                         f"Resource::arn:*:iam::{cfg.account}:role/*"], children=True)
        names = (cfg.name, staging_cfg.name)
        nag.suppress(pipeline, "AwsSolutions-IAM5", "the steps' grants: `*` only for actions without a resource "
                     "(ecr:GetAuthorizationToken, rds:DescribeGlobalClusters, ecs:Describe*, RegisterTaskDefinition, "
                     "CodeBuild's own); the image repository in every region it replicates to; every revision of the "
                     "migration task; its parameter in whichever region the writer is; the web bucket's objects; the "
                     "global stack by name (its id is CloudFormation's); invalidations of the distribution, made in "
                     "another stage", applies_to=[
                         "Resource::*", f"Resource::arn:aws:ecr:*:{cfg.account}:repository/{cfg.name}",
                         *(f"Resource::arn:aws:ecs:*:{cfg.account}:task-definition/{n}-migrate:*" for n in names),
                         *(f"Resource::arn:aws:ssm:*:{cfg.account}:parameter/{n}/migrate" for n in names),
                         f"Resource::arn:aws:s3:::{cfg.web_bucket_name}/*",
                         f"Resource::arn:aws:cloudformation:us-east-1:{cfg.account}:stack/"
                         f"{self.stage.global_stack.stack_name}/*",
                         f"Resource::arn:aws:cloudfront::{cfg.account}:distribution/*"], children=True)

    def image_repository(self, construct_id: str, name: str, *, keep: int) -> ecr.Repository:
        """A repository of immutable, scanned image tags named NAME, keeping the last KEEP builds."""
        return ecr.Repository(
            self, construct_id, repository_name=name, image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE, removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[ecr.LifecycleRule(max_image_count=keep, description=f"keep the last {keep} builds")],
        )

    def build_image(self, staging_cfg: DeployConfig) -> pipelines.CodeBuildStep:
        """Build and push `<name>:<commit>` (replicated to every region), then copy it to the staging repository."""
        cfg = self.cfg
        return pipelines.CodeBuildStep(
            "BuildImage", input=self.source,
            env={"ORBITASK_REPOSITORY": self.repository.repository_uri, "ORBITASK_REGIONS": " ".join(cfg.regions),
                 "ORBITASK_STAGING_REPOSITORY": self.staging_repository.repository_uri},
            build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE, privileged=True),
            commands=[f"bash {DEPLOY_DIR}/scripts/push-image.sh {COMMIT}",
                      f"bash {BUILDSPEC_DIR}/stage-image.sh {COMMIT}"],
            role_policy_statements=[
                iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(
                    actions=["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                             "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:DescribeImages",
                             "ecr:GetDownloadUrlForLayer"],
                    resources=[f"arn:aws:ecr:*:{cfg.account}:repository/{cfg.name}",
                               f"arn:aws:ecr:{cfg.primary}:{cfg.account}:repository/{staging_cfg.name}"],
                ),
            ],
        )

    def migrate(self, step_id: str, cfg: DeployConfig, *, after: pipelines.Step | None = None
                ) -> pipelines.CodeBuildStep:
        """`orbitask db upgrade` with the commit's image, as a one-off task where CFG's writer is now."""
        step = pipelines.CodeBuildStep(
            step_id, input=self.source,
            env={"ORBITASK_NAME": cfg.name, "ORBITASK_GLOBAL_CLUSTER": cfg.global_cluster_id,
                 "ORBITASK_REGIONS": " ".join(cfg.regions)},
            commands=[f"bash {DEPLOY_DIR}/scripts/migrate.sh {COMMIT}"],
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
        if after:
            step.add_step_dependency(after)
        return step

    def smoke_test(self, cfg: DeployConfig, *, after: pipelines.Step) -> pipelines.CodeBuildStep:
        """Staging's region answers /readyz and /api/v1/healthz over HTTPS (once AFTER, its migration, is done)."""
        step = pipelines.CodeBuildStep(
            "SmokeTest", env={"ORBITASK_URL": f"https://{cfg.regional_fqdn(cfg.primary)}"},
            input=self.source, commands=[f"bash {BUILDSPEC_DIR}/smoke.sh"],
        )
        step.add_step_dependency(after)
        return step

    def bake(self, region: str) -> pipelines.CodeBuildStep:
        """Bake time after REGION's wave: its alarms polled for BAKE_MINUTES; one in ALARM (or missing) fails it."""
        names = bake_alarm_names(self.cfg, region)
        return pipelines.CodeBuildStep(
            "Bake", input=self.source,
            env={"ORBITASK_ALARMS": " ".join(names), "ORBITASK_BAKE_MINUTES": str(BAKE_MINUTES)},
            commands=[f"bash {BUILDSPEC_DIR}/bake.sh {region}"],
            timeout=cdk.Duration.minutes(BAKE_MINUTES + 15),
            role_policy_statements=[iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=[
                f"arn:aws:cloudwatch:{region}:{self.cfg.account}:alarm:{name}" for name in names])],
        )

    def publish_web(self) -> pipelines.CodeBuildStep:
        """Build web/ and publish it to the global stack's bucket behind CloudFront."""
        cfg, stack_name = self.cfg, self.stage.global_stack.stack_name
        return pipelines.CodeBuildStep(
            "PublishWeb", input=self.source, env={"ORBITASK_GLOBAL_STACK": stack_name},
            commands=[f"bash {DEPLOY_DIR}/scripts/publish-web.sh"],
            role_policy_statements=[
                iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[
                    f"arn:aws:cloudformation:us-east-1:{cfg.account}:stack/{stack_name}/*"]),
                iam.PolicyStatement(actions=["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                                    resources=[f"arn:aws:s3:::{cfg.web_bucket_name}",
                                               f"arn:aws:s3:::{cfg.web_bucket_name}/*"]),
                iam.PolicyStatement(actions=["cloudfront:CreateInvalidation"],
                                    resources=[f"arn:aws:cloudfront::{cfg.account}:distribution/*"]),
            ],
        )
