/** The controller's gRPC server: the Controller service, converting to/from proto at the edge. */
import {
  ControllerService,
  type ControllerServer,
  type GetAgentRequest,
  type GetAgentResponse,
  type ListAgentsRequest,
  type ListAgentsResponse,
  type ListSitesRequest,
  type ListSitesResponse,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import { descriptionToProto, entryToProto, siteToProto } from '../../shared/transport/convert.js';
import { startGrpcServer, unary, type RunningGrpcServer } from '../../shared/transport/grpc-server.js';
import type { FleetService } from '../domain/fleet-service.js';

export interface ControllerServices {
  fleet: FleetService;
}

function implementation({ fleet }: ControllerServices): ControllerServer {
  return {
    listSites: unary<ListSitesRequest, ListSitesResponse>(() => ({ sites: fleet.listSites().map(siteToProto) })),
    listAgents: unary<ListAgentsRequest, ListAgentsResponse>((req) => ({
      agents: fleet.listAgents(req.site || undefined).map(entryToProto),
    })),
    getAgent: unary<GetAgentRequest, GetAgentResponse>(async (req) => {
      const details = await fleet.getAgent(req.site, req.host);
      return {
        entry: entryToProto(details.entry),
        live: details.live ? descriptionToProto(details.live) : undefined,
        liveError: details.liveError ?? '',
      };
    }),
  };
}

export function startControllerGrpcServer(listen: string, services: ControllerServices): Promise<RunningGrpcServer> {
  return startGrpcServer(listen, ControllerService, implementation(services));
}
