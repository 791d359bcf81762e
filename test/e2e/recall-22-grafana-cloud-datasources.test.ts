import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * Grafana data sources whose cloud API is built into their type and written nowhere as a `url`
 * (CloudWatch, Azure Monitor, Google Cloud Monitoring): the hosts come from the region, cloud or
 * universe the provisioning file names (Grafana's routes and its CloudWatch docs); what the file
 * leaves to Grafana's environment is unknown, never guessed. Before, none of them was reported.
 */
const FILES: Record<string, string> = {
  'provisioning/datasources/cloud.yaml': [
    'apiVersion: 1', // 1
    'datasources:',
    '  - name: CW',
    '    type: cloudwatch',
    '    jsonData:', // 5
    '      authType: default',
    '      defaultRegion: eu-west-2',
    '  - name: CW-default',
    '    type: cloudwatch', // 9
    '    jsonData:',
    '      authType: default',
    '  - name: CW-endpoint',
    '    type: cloudwatch', // 13
    '    jsonData:',
    '      defaultRegion: us-east-1',
    '      endpoint: https://monitoring.vpce.corp.example',
    '  - name: Azure',
    '    type: grafana-azure-monitor-datasource', // 18
    '    jsonData:',
    '      cloudName: govazuremonitor',
    '      azureAuthType: clientsecret',
    '  - name: GCM',
    '    type: stackdriver', // 23
    '    jsonData:',
    '      authenticationType: jwt',
    '  - name: CW-china',
    '    type: cloudwatch', // 27
    '    jsonData:',
    '      defaultRegion: cn-north-1',
    '  - name: Azure-custom',
    '    type: grafana-azure-monitor-datasource', // 31
    '    jsonData:',
    '      cloudName: customizedazuremonitor',
    '  - name: Elastic',
    '    type: elasticsearch', // 35
    '',
  ].join('\n'),
};

describe('recall22: Grafana cloud data sources without a url', () => {
  const repo = auditedRepo('ferry-recall22-grafana-', FILES, MANIFEST, NESTED_SITE_TARGET);
  const f = 'repo/provisioning/datasources/cloud.yaml';
  const hosts = (line: number) => repo.at(f, line).map((x) => x.host).sort();

  it('CloudWatch: the region the file names gives the monitoring and logs endpoints; jsonData.endpoint wins; China regions are amazonaws.com.cn', () => {
    expect(hosts(4)).toEqual(['logs.eu-west-2.amazonaws.com', 'monitoring.eu-west-2.amazonaws.com']);
    expect(repo.at(f, 4)[0].note).toContain('Grafana data source "CW" (type cloudwatch');
    expect(repo.at(f, 4).every((x) => x.class !== 'internal')).toBe(true);
    expect(hosts(13)).toEqual(['monitoring.vpce.corp.example']);
    expect(hosts(27)).toEqual(['logs.cn-north-1.amazonaws.com.cn', 'monitoring.cn-north-1.amazonaws.com.cn']);
  });

  it("CloudWatch without a region: one finding, host unknown, saying the region is Grafana's environment's", () => {
    const x = repo.at(f, 9);
    expect(x.map((y) => y.host)).toEqual(['unknown']);
    expect(x[0].note).toContain('AWS_REGION');
  });

  it("Azure Monitor: its cloud's Resource Manager, Log Analytics and Entra ID hosts; a customised cloud unknown", () => {
    expect(hosts(18)).toEqual(['api.loganalytics.us', 'login.microsoftonline.us', 'management.usgovcloudapi.net']);
    expect(repo.at(f, 31).map((y) => y.host)).toEqual(['unknown']);
  });

  it('Google Cloud Monitoring: the monitoring and resource manager APIs and the JWT token endpoint', () => {
    expect(hosts(23)).toEqual(['cloudresourcemanager.googleapis.com', 'monitoring.googleapis.com', 'oauth2.googleapis.com']);
  });

  it('another type without a url: nothing reported (its endpoint is not known here)', () => {
    expect(repo.at(f, 35)).toEqual([]);
  });
});
