/** Unit names of the dev site shared by the unit table (units.ts) and the units' own modules. */
export const SF_API_UNIT = 'findface-sf-api';
export const EXTRACTION_API_UNIT = 'findface-extraction-api';
export const UPLOAD_UNIT = 'findface-upload';
