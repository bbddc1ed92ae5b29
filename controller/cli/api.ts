/** What the CLI needs from the controller, and its gRPC implementation (proto converted at the edge). */
import { credentials } from '@grpc/grpc-js';
import { ControllerClient } from '../../proto/gen/ffkeeper/v1/controller.js';
import type {
  GetAgentRequest,
  GetAgentResponse,
  ListAgentsRequest,
  ListAgentsResponse,
  ListSitesRequest,
  ListSitesResponse,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import { InternalError } from '../../shared/errors.js';
import type { AgentDescription, AgentEntry, SiteSummary } from '../../shared/fleet.js';
import { descriptionFromProto, entryFromProto } from '../../shared/transport/convert.js';
import { callUnary } from '../../shared/transport/grpc-client.js';

export interface AgentDetails {
  entry: AgentEntry;
  live?: AgentDescription;
  liveError?: string;
}

export interface ControllerApi {
  listSites(): Promise<SiteSummary[]>;
  listAgents(site?: string): Promise<AgentEntry[]>;
  getAgent(site: string, host: string): Promise<AgentDetails>;
  close(): void;
}

export class GrpcControllerApi implements ControllerApi {
  private readonly client: InstanceType<typeof ControllerClient>;
  private readonly peer: string;

  constructor(
    address: string,
    private readonly timeoutMs: number,
  ) {
    this.client = new ControllerClient(address, credentials.createInsecure());
    this.peer = `controller ${address}`;
  }

  async listSites(): Promise<SiteSummary[]> {
    const res = await callUnary<ListSitesRequest, ListSitesResponse>(this.client.listSites.bind(this.client), {}, this.opts());
    return res.sites;
  }

  async listAgents(site?: string): Promise<AgentEntry[]> {
    const res = await callUnary<ListAgentsRequest, ListAgentsResponse>(
      this.client.listAgents.bind(this.client),
      { site: site ?? '' },
      this.opts(),
    );
    return res.agents.map(entryFromProto).filter((e): e is AgentEntry => e !== undefined);
  }

  async getAgent(site: string, host: string): Promise<AgentDetails> {
    const res = await callUnary<GetAgentRequest, GetAgentResponse>(this.client.getAgent.bind(this.client), { site, host }, this.opts());
    const entry = res.entry ? entryFromProto(res.entry) : undefined;
    if (!entry) throw new InternalError(`${this.peer} answered GetAgent without an entry`);
    return {
      entry,
      ...(res.live ? { live: descriptionFromProto(res.live) } : {}),
      ...(res.liveError ? { liveError: res.liveError } : {}),
    };
  }

  close(): void {
    this.client.close();
  }

  private opts(): { timeoutMs: number; peer: string } {
    return { timeoutMs: this.timeoutMs, peer: this.peer };
  }
}
