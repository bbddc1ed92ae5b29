/** The agent's gRPC server: the Agent service, handlers converting to/from proto at the edge. */
import { AgentService, type AgentServer } from '../../proto/gen/ffkeeper/v1/agent.js';
import type { DescribeRequest, DescribeResponse } from '../../proto/gen/ffkeeper/v1/agent.js';
import type { AgentDescription } from '../../shared/fleet.js';
import { descriptionToProto } from '../../shared/transport/convert.js';
import { startGrpcServer, unary, type RunningGrpcServer } from '../../shared/transport/grpc-server.js';

export interface AgentHandlers {
  describe(): AgentDescription;
}

export function startAgentGrpcServer(listen: string, handlers: AgentHandlers): Promise<RunningGrpcServer> {
  const impl: AgentServer = {
    describe: unary<DescribeRequest, DescribeResponse>(() => ({ agent: descriptionToProto(handlers.describe()) })),
  };
  return startGrpcServer(listen, AgentService, impl);
}
