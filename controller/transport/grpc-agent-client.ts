/** AgentClient over gRPC: one channel per agent address, every call with a deadline. */
import { credentials, type Client } from '@grpc/grpc-js';
import { AgentClient as PbAgentClient } from '../../proto/gen/ffkeeper/v1/agent.js';
import type { DescribeRequest, DescribeResponse } from '../../proto/gen/ffkeeper/v1/agent.js';
import { InternalError } from '../../shared/errors.js';
import type { AgentDescription } from '../../shared/fleet.js';
import { descriptionFromProto } from '../../shared/transport/convert.js';
import { callUnary } from '../../shared/transport/grpc-client.js';
import type { AgentClient } from '../domain/ports.js';

type PbClient = InstanceType<typeof PbAgentClient>;

export class GrpcAgentClient implements AgentClient {
  private readonly clients = new Map<string, PbClient>();

  async describe(address: string, options: { timeoutMs: number }): Promise<AgentDescription> {
    const client = this.client(address);
    const res = await callUnary<DescribeRequest, DescribeResponse>(client.describe.bind(client), {}, {
      timeoutMs: options.timeoutMs,
      peer: `agent ${address}`,
    });
    if (!res.agent) throw new InternalError(`agent ${address} answered Describe without a description`);
    return descriptionFromProto(res.agent);
  }

  close(): void {
    for (const c of this.clients.values()) (c as unknown as Client).close();
    this.clients.clear();
  }

  private client(address: string): PbClient {
    let c = this.clients.get(address);
    if (!c) {
      c = new PbAgentClient(address, credentials.createInsecure());
      this.clients.set(address, c);
    }
    return c;
  }
}
